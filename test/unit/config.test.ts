import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import { isAbsolute, join, relative } from "node:path";
import { parse as parseYaml, stringify } from "yaml";
import { configJsonSchema } from "../../functions/config/json-schema.ts";
import { ConfigError, loadConfig, loadMetricsLevel, parseConfig, validateConfig } from "../../functions/config/load.ts";

type Json = Record<string, any>;

/** The smallest config that is valid: one cluster, one target, one static backend. */
function minimalConfig(): Json {
  return {
    clusters: [{ name: "main" }],
    targets: [
      {
        name: "db",
        cluster: "main",
        namespace: "shop",
        service: "postgres",
        ports: [{ port: 5432 }],
        sources: [{ static: [{ address: "10.0.0.1" }] }],
      },
    ],
  };
}

function problemsOf(input: unknown): string[] {
  const result = validateConfig(input);
  assert.equal(result.ok, false, "expected the config to be refused");
  return result.ok ? [] : result.problems;
}

const repoRoot = new URL("../../", import.meta.url);

describe("validateConfig: a valid config", () => {
  it("fills in every default of a minimal config", () => {
    // Prepare
    const input = minimalConfig();

    // Act
    const result = validateConfig(input);

    // Assess
    assert.equal(result.ok, true);
    assert.ok(result.ok);
    assert.deepEqual(result.config, {
      ownerId: "default",
      policy: "sync",
      checkConcurrency: 900,
      syncIntervalSeconds: 60,
      metrics: "target",
      selfCheck: { minBackends: 4 },
      dispatch: { maxTargetsPerShard: 100, maxCostPerShard: 20_000, assumedBackends: 10, workersPerCluster: 10 },
      allowPruneAll: false,
      clusters: [{ name: "main" }],
      targets: [
        {
          name: "db",
          cluster: "main",
          namespace: "shop",
          service: "postgres",
          ports: [{ port: 5432, protocol: "TCP" }],
          sources: [{ static: [{ address: "10.0.0.1" }] }],
          check: { tcp: { timeoutMs: 2000 } },
          rise: 2,
          fall: 2,
          recheckDelayMs: 200,
          guards: { belowMinHealthy: "keepPrevious", neverEmpty: true },
          publish: { endpointSlices: true, endpoints: true },
          failing: "notReady",
          createService: false,
          adopt: false,
        },
      ],
    });
  });

  it("fills in the defaults of an http check", () => {
    const input = minimalConfig();
    input.targets[0].check = { http: {} };

    const result = validateConfig(input);

    assert.ok(result.ok);
    assert.deepEqual(result.config.targets[0]?.check, { http: { timeoutMs: 2000, method: "GET", path: "/", expectedStatus: ["200-399"] } });
  });

  it("accepts every documented option at once", () => {
    const input: Json = {
      ownerId: "team-a",
      policy: "upsert-only",
      checkConcurrency: 10,
      metrics: "cluster",
      clusters: [
        { name: "main", kubeconfig: "~/.kube/config", context: "prod" },
        { name: "other", inCluster: true },
        { name: "third", kubeconfigData: "apiVersion: v1\nkind: Config\n" },
      ],
      targets: [
        {
          name: "web",
          cluster: "other",
          namespace: "shop",
          service: "web",
          ports: [
            { name: "http", port: 80, appProtocol: "http" },
            { name: "dns", port: 53, protocol: "UDP" },
          ],
          sources: [
            {
              name: "racks",
              static: [
                { address: "10.0.0.1", hostname: "web-1", nodeName: "node-a.example", zone: "eu-1a" },
                { address: "2001:db8::1" },
                { hostname: "web.example.com" },
              ],
            },
          ],
          check: { https: { port: 8443, path: "/healthz", expectedStatus: [200, "300-399"], insecureSkipVerify: true, serverName: "web.example.com" } },
          publish: { endpointSlices: true, endpoints: false },
          failing: "drop",
          createService: true,
          adopt: true,
        },
      ],
    };

    const result = validateConfig(input);

    assert.deepEqual(result.ok ? [] : result.problems, []);
  });

  it("accepts an empty target list", () => {
    const result = validateConfig({ clusters: [{ name: "main" }], targets: [] });

    assert.equal(result.ok, true);
  });
});

describe("validateConfig: each problem names its path and the value found", () => {
  const cases: { name: string; change: (config: Json) => void; problems: string[] }[] = [
    {
      name: "port above 65535",
      change: (c) => (c.targets[0].ports[0].port = 70000),
      problems: ["targets[0].ports[0].port: expected 1-65535, got 70000"],
    },
    {
      name: "port 0",
      change: (c) => (c.targets[0].ports[0].port = 0),
      problems: ["targets[0].ports[0].port: expected 1-65535, got 0"],
    },
    {
      name: "port given as a string",
      change: (c) => (c.targets[0].ports[0].port = "80"),
      problems: ['targets[0].ports[0].port: expected an integer 1-65535, got "80"'],
    },
    {
      name: "port protocol unknown",
      change: (c) => (c.targets[0].ports[0].protocol = "HTTP"),
      problems: ['targets[0].ports[0].protocol: expected TCP, UDP or SCTP, got "HTTP"'],
    },
    {
      name: "namespace not a DNS label",
      change: (c) => (c.targets[0].namespace = "Shop_NS"),
      problems: [`targets[0].namespace: expected a DNS label (lower-case letters, digits and '-'), got "Shop_NS"`],
    },
    {
      name: "service with a dot",
      change: (c) => (c.targets[0].service = "postgres.db"),
      problems: [`targets[0].service: expected a DNS label (lower-case letters, digits and '-'), got "postgres.db"`],
    },
    {
      name: "target name ending in a dash",
      change: (c) => (c.targets[0].name = "db-"),
      problems: [`targets[0].name: expected a DNS label (lower-case letters, digits and '-'), got "db-"`],
    },
    {
      name: "name longer than 63 characters",
      change: (c) => (c.targets[0].service = "a".repeat(64)),
      problems: [`targets[0].service: expected at most 63 characters, got "${"a".repeat(64)}"`],
    },
    {
      name: "long value, shortened in the message",
      change: (c) => (c.targets[0].namespace = "A".repeat(100)),
      problems: [
        `targets[0].namespace: expected at most 63 characters, got "${"A".repeat(76)}...`,
        `targets[0].namespace: expected a DNS label (lower-case letters, digits and '-'), got "${"A".repeat(76)}...`,
      ],
    },
    {
      name: "cluster name not a DNS label",
      change: (c) => {
        c.clusters[0].name = "Main";
        c.targets[0].cluster = "Main";
      },
      problems: [
        `clusters[0].name: expected a DNS label (lower-case letters, digits and '-'), got "Main"`,
        `targets[0].cluster: expected a DNS label (lower-case letters, digits and '-'), got "Main"`,
      ],
    },
    {
      name: "IPv4 literal out of range",
      change: (c) => (c.targets[0].sources[0].static[0].address = "10.0.0.300"),
      problems: ['targets[0].sources[0].static[0].address: expected an IPv4 or IPv6 address, got "10.0.0.300"'],
    },
    {
      name: "IPv6 literal malformed",
      change: (c) => (c.targets[0].sources[0].static[0].address = "2001:db8:::1"),
      problems: ['targets[0].sources[0].static[0].address: expected an IPv4 or IPv6 address, got "2001:db8:::1"'],
    },
    {
      name: "static entry with neither address nor hostname",
      change: (c) => (c.targets[0].sources[0].static[0] = { zone: "eu-1a" }),
      problems: ["targets[0].sources[0].static[0]: expected an address, a hostname, or both"],
    },
    {
      name: "hostname with dots next to an address",
      change: (c) => (c.targets[0].sources[0].static[0].hostname = "db-1.example.com"),
      problems: [
        `targets[0].sources[0].static[0].hostname: next to an address, hostname is the endpoint's hostname and must be a DNS label (no dots), got "db-1.example.com"`,
      ],
    },
    {
      name: "empty static list",
      change: (c) => (c.targets[0].sources[0].static = []),
      problems: ["targets[0].sources[0].static: expected at least one entry, got []"],
    },
    {
      name: "source of no kind",
      change: (c) => (c.targets[0].sources[0] = { name: "racks" }),
      problems: ["targets[0].sources[0]: expected one source kind: static, ec2, route53, dns, file"],
    },
    {
      name: "typo in a check option",
      change: (c) => (c.targets[0].check = { tcp: { timout: 500 } }),
      problems: ['targets[0].check.tcp: unknown key "timout"'],
    },
    {
      name: "unknown key at the top level",
      change: (c) => (c.polcy = "sync"),
      problems: ['(top level): unknown key "polcy"'],
    },
    {
      name: "unknown keys on a cluster",
      change: (c) => Object.assign(c.clusters[0], { kubconfig: "x", ctx: "y" }),
      problems: ['clusters[0]: unknown keys "kubconfig", "ctx"'],
    },
    {
      name: "unknown key on a target",
      change: (c) => (c.targets[0].failOn = "drop"),
      problems: ['targets[0]: unknown key "failOn"'],
    },
    {
      name: "unknown key on a static entry",
      change: (c) => (c.targets[0].sources[0].static[0].adress = "10.0.0.2"),
      problems: ['targets[0].sources[0].static[0]: unknown key "adress"'],
    },
    {
      name: "unknown key under publish",
      change: (c) => (c.targets[0].publish = { endpointslices: false }),
      problems: ['targets[0].publish: unknown key "endpointslices"'],
    },
    {
      name: "unknown key on a port",
      change: (c) => (c.targets[0].ports[0].targetPort = 8080),
      problems: ['targets[0].ports[0]: unknown key "targetPort"'],
    },
    {
      name: "more than one check kind",
      change: (c) => (c.targets[0].check = { tcp: {}, http: {} }),
      problems: ["targets[0].check: expected only one check, got tcp and http"],
    },
    {
      name: "no check kind",
      change: (c) => (c.targets[0].check = {}),
      problems: ["targets[0].check: expected one check: none, tcp, tls, http, https, etcd, grpc"],
    },
    {
      name: "timeout of zero",
      change: (c) => (c.targets[0].check = { tcp: { timeoutMs: 0 } }),
      problems: ["targets[0].check.tcp.timeoutMs: expected at least 1 ms, got 0"],
    },
    {
      name: "http path without a leading slash",
      change: (c) => (c.targets[0].check = { http: { path: "healthz" } }),
      problems: ['targets[0].check.http.path: expected a path starting with /, got "healthz"'],
    },
    {
      name: "expectedStatus out of range",
      change: (c) => (c.targets[0].check = { http: { expectedStatus: [700] } }),
      problems: ['targets[0].check.http.expectedStatus[0]: expected a status code (200) or a range ("200-399"), got 700'],
    },
    {
      name: "expectedStatus range malformed",
      change: (c) => (c.targets[0].check = { http: { expectedStatus: [200, "200-"] } }),
      problems: ['targets[0].check.http.expectedStatus[1]: expected a status code (200) or a range ("200-399"), got "200-"'],
    },
    {
      name: "expectedStatus neither number nor string",
      change: (c) => (c.targets[0].check = { https: { expectedStatus: [true] } }),
      problems: ['targets[0].check.https.expectedStatus[0]: expected a status code (200) or a range ("200-399"), got true'],
    },
    {
      name: "expectedStatus range written high to low",
      change: (c) => (c.targets[0].check = { http: { expectedStatus: ["399-200"] } }),
      problems: ['targets[0].check.http.expectedStatus[0]: expected a range from low to high, got "399-200"'],
    },
    {
      name: "failing mode unknown",
      change: (c) => (c.targets[0].failing = "remove"),
      problems: ['targets[0].failing: expected notReady or drop, got "remove"'],
    },
    {
      name: "unknown cluster reference",
      change: (c) => (c.targets[0].cluster = "staging"),
      problems: ['targets[0].cluster: no cluster by this name (have: main), got "staging"'],
    },
    {
      name: "duplicate cluster names",
      change: (c) => c.clusters.push({ name: "main", inCluster: true }),
      problems: ['clusters[1].name: duplicate cluster name, got "main"'],
    },
    {
      name: "duplicate target names",
      change: (c) => c.targets.push({ ...structuredClone(c.targets[0]), service: "other" }),
      problems: ['targets[1].name: duplicate target name, got "db"'],
    },
    {
      name: "two targets for the same Service",
      change: (c) => c.targets.push({ ...structuredClone(c.targets[0]), name: "db-again" }),
      problems: ['targets[1].service: already synced by target db, got "postgres"'],
    },
    {
      name: "several ports without names",
      change: (c) => (c.targets[0].ports = [{ port: 80 }, { name: "https", port: 443 }]),
      problems: ["targets[0].ports[0].name: required when a target has more than one port"],
    },
    {
      name: "duplicate port names",
      change: (c) => (c.targets[0].ports = [{ name: "web", port: 80 }, { name: "web", port: 443 }]),
      problems: ['targets[0].ports[1].name: duplicate port name, got "web"'],
    },
    {
      name: "no ports",
      change: (c) => (c.targets[0].ports = []),
      problems: ["targets[0].ports: expected at least one port, got []"],
    },
    {
      name: "kubeconfig and inCluster together",
      change: (c) => (c.clusters[0] = { name: "main", kubeconfig: "/etc/kubeconfig", inCluster: true }),
      problems: ["clusters[0]: expected at most one of kubeconfig, kubeconfigData, inCluster, eks, kubeconfigParameter, kubeconfigSecret; got kubeconfig and inCluster"],
    },
    {
      name: "context with inCluster",
      change: (c) => (c.clusters[0] = { name: "main", inCluster: true, context: "prod" }),
      problems: ['clusters[0].context: a context needs a kubeconfig, not inCluster or eks, got "prod"'],
    },
    {
      name: "inCluster false",
      change: (c) => (c.clusters[0].inCluster = false),
      problems: ["clusters[0].inCluster: expected true, got false"],
    },
    {
      name: "no clusters",
      change: (c) => {
        c.clusters = [];
        c.targets = [];
      },
      problems: ["clusters: expected at least one cluster, got []"],
    },
    {
      name: "ownerId not a label value",
      change: (c) => (c.ownerId = "team a"),
      problems: ['ownerId: expected a label value, got "team a"'],
    },
    {
      name: "policy unknown",
      change: (c) => (c.policy = "delete"),
      problems: ['policy: expected sync or upsert-only, got "delete"'],
    },
    {
      name: "metrics level unknown",
      change: (c) => (c.metrics = "service"),
      problems: ['metrics: expected target or cluster, got "service"'],
    },
  ];

  for (const { name, change, problems } of cases) {
    it(`refuses ${name}`, () => {
      // Prepare
      const input = minimalConfig();
      change(input);

      // Act
      const found = problemsOf(input);

      // Assess
      assert.deepEqual(found, problems);
    });
  }

  it("reports a config that is not an object, without crashing", () => {
    assert.deepEqual(problemsOf(null), ["(top level): Invalid input: expected object, received null, got null"]);
    assert.deepEqual(problemsOf(["a"]), ['(top level): Invalid input: expected object, received array, got ["a"]']);
  });

  it("reports every problem at once, not only the first", () => {
    // Prepare: problems in shape, in names, in values and in cross-references, in several targets.
    const input = minimalConfig();
    input.targets[0].ports[0].port = 70000;
    input.targets[0].check = { tcp: { timout: 1 } };
    input.targets.push({
      name: "db",
      cluster: "nowhere",
      namespace: "Bad",
      service: "cache",
      ports: [{ port: 6379 }, { port: 6380 }],
      sources: [{ static: [{ address: "1.2.3" }] }],
    });
    input.extra = true;

    // Act
    const found = problemsOf(input);

    // Assess
    assert.deepEqual(found.toSorted(), [
      '(top level): unknown key "extra"',
      'targets[0].check.tcp: unknown key "timout"',
      "targets[0].ports[0].port: expected 1-65535, got 70000",
      'targets[1].cluster: no cluster by this name (have: main), got "nowhere"',
      'targets[1].name: duplicate target name, got "db"',
      `targets[1].namespace: expected a DNS label (lower-case letters, digits and '-'), got "Bad"`,
      "targets[1].ports[0].name: required when a target has more than one port",
      "targets[1].ports[1].name: required when a target has more than one port",
      'targets[1].sources[0].static[0].address: expected an IPv4 or IPv6 address, got "1.2.3"',
    ]);
  });
});

describe("parseConfig", () => {
  it("parses YAML and applies defaults", () => {
    const text = [
      "clusters:",
      "  - name: main",
      "targets:",
      "  - name: db",
      "    cluster: main",
      "    namespace: shop",
      "    service: postgres",
      "    ports: [{ port: 5432 }]",
      "    sources:",
      "      - static:",
      "          - address: 10.0.0.1",
      "    check: { none: {} }",
    ].join("\n");

    const config = parseConfig(text, "config.yaml");

    assert.equal(config.ownerId, "default");
    assert.deepEqual(config.targets[0]?.check, { none: {} });
  });

  it("turns a YAML syntax error into a ConfigError naming the file and the line", () => {
    const text = "clusters:\n  - name: main\ntargets: [\n  - name: db\n";

    assert.throws(
      () => parseConfig(text, "/etc/syncer/config.yaml"),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /^invalid config \/etc\/syncer\/config\.yaml:/);
        assert.ok(error.problems.length >= 1);
        assert.match(error.problems[0]!, /line \d+, column \d+/);
        assert.ok(error.problems.every((problem) => !problem.includes("\n")), "each problem is on one line");
        return true;
      },
    );
  });

  it("places YAML problems by line and column and never quotes the text, which may hold a key", () => {
    const secret = "S3CR3T-unit-5f1e";
    const broken = [
      `clusters: [{ name: main }]\ntargets:\n  - check:\n      tls:\n        keyPem: |\n  -----BEGIN PRIVATE KEY-----\n  ${secret}\n    x: 1\n`,
      `k: !${secret} x\n`,
      `k: *${secret}\n`,
      `%${secret}\n---\nk: 1\n`,
      `k: "${secret}\\q"\n`,
      `k: ${secret}: x\n`,
    ];
    for (const text of broken) {
      assert.throws(
        () => parseConfig(text, "config.yaml"),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.equal(error.message.includes(secret.slice(0, 8)), false, error.message);
          return true;
        },
      );
    }
    assert.throws(() => parseConfig(broken[1]!, "config.yaml"), (error: unknown) => error instanceof ConfigError && error.problems[0] === "line 1, column 4: tag resolve failed");
  });

  it("lists schema problems in the ConfigError, one per line", () => {
    const text = "clusters: [{ name: main }]\ntargets:\n  - { name: db, cluster: main, namespace: shop, service: pg, ports: [{ port: 99999 }], sources: [{ static: [{ address: 10.0.0.1 }] }], check: {} }\n";

    assert.throws(
      () => parseConfig(text, "config.yaml"),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.deepEqual(error.problems, [
          "targets[0].ports[0].port: expected 1-65535, got 99999",
          "targets[0].check: expected one check: none, tcp, tls, http, https, etcd, grpc",
        ]);
        assert.equal(
          error.message,
          "invalid config config.yaml:\n  - targets[0].ports[0].port: expected 1-65535, got 99999\n  - targets[0].check: expected one check: none, tcp, tls, http, https, etcd, grpc",
        );
        return true;
      },
    );
  });

  it("reads JSON as the same config the YAML parser makes of it", () => {
    const config = {
      clusters: [{ name: "main" }],
      targets: [{ name: "db", cluster: "main", namespace: "shop", service: "postgres", ports: [{ port: 5432 }], sources: [{ static: [{ address: "10.0.0.1" }] }], check: { tcp: {} } }],
    };
    const json = JSON.stringify(config, null, 2);

    assert.deepEqual(parseConfig(json, "config.json"), parseConfig(stringify(config), "config.yaml"));
    assert.deepEqual(parseConfig(json, "config.json").targets[0]?.check, { tcp: { timeoutMs: 2000 } });
  });

  it("reads YAML flow syntax that is not JSON, and places a JSON syntax error by line", () => {
    const flow = "{ clusters: [{ name: main }], targets: [] }";
    assert.deepEqual(parseConfig(flow, "config.yaml").clusters.map((cluster) => cluster.name), ["main"]);

    assert.throws(
      () => parseConfig('{\n  "clusters": [{ "name": "main" }],\n  "targets": [\n', "config.json"),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.problems[0]!, /line \d+, column \d+/);
        return true;
      },
    );
  });

  it("names the path and value of a schema problem in JSON too", () => {
    const json = JSON.stringify({ clusters: [{ name: "main" }], targets: [{ name: "db", cluster: "main", namespace: "shop", service: "pg", ports: [{ port: 0 }], sources: [{ static: [{ address: "10.0.0.1" }] }] }] });

    assert.throws(
      () => parseConfig(json, "config.json"),
      (error: unknown) => error instanceof ConfigError && error.problems.includes("targets[0].ports[0].port: expected 1-65535, got 0"),
    );
  });

  it("refuses an empty file with a ConfigError, not a crash", () => {
    assert.throws(() => parseConfig("", "empty.yaml"), ConfigError);
  });
});

describe("loadConfig", () => {
  it("resolves kubeconfig paths against the config file's folder and expands ~", async (t) => {
    // Prepare
    const dir = await mkdtemp(join(tmpdir(), "syncer-config-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, "config.yaml");
    await writeFile(
      path,
      [
        "clusters:",
        "  - name: relative",
        "    kubeconfig: kube/dev.yaml",
        "  - name: dotted",
        "    kubeconfig: ../shared/kubeconfig",
        "  - name: home",
        "    kubeconfig: ~/.kube/config",
        "  - name: bare-home",
        "    kubeconfig: '~'",
        "  - name: absolute",
        "    kubeconfig: /etc/kubernetes/admin.conf",
        "  - name: incluster",
        "    inCluster: true",
        "targets: []",
      ].join("\n"),
    );

    // Act
    const config = await loadConfig(path);

    // Assess
    assert.deepEqual(
      config.clusters.map((cluster) => [cluster.name, cluster.kubeconfig]),
      [
        ["relative", join(dir, "kube/dev.yaml")],
        ["dotted", join(dir, "../shared/kubeconfig")],
        ["home", join(homedir(), ".kube/config")],
        ["bare-home", homedir()],
        ["absolute", "/etc/kubernetes/admin.conf"],
        ["incluster", undefined],
      ],
    );
  });

  it("resolves against the config file's folder even when given a relative config path", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "syncer-config-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, "c.yaml"), "clusters: [{ name: main, kubeconfig: kc }]\ntargets: []\n");
    const given = relative(process.cwd(), join(dir, "c.yaml"));
    assert.ok(!isAbsolute(given));

    const config = await loadConfig(given);

    assert.equal(config.clusters[0]?.kubeconfig, join(dir, "kc"));
  });

  it("names the file it cannot read", async () => {
    const path = join(tmpdir(), "syncer-no-such-dir", "config.yaml");

    await assert.rejects(loadConfig(path), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, ["cannot read the file: ENOENT"]);
      assert.ok(error.message.includes(path));
      return true;
    });
  });
});

describe("loadMetricsLevel", () => {
  it("reads the metrics level alone, as serverless.yml's alarms do: the rest of the config may be broken; a bad level is named", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "syncer-metrics-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, "config.yaml");

    await writeFile(path, "metrics: cluster\nclusters: []\n");
    assert.equal(await loadMetricsLevel(path), "cluster");
    await writeFile(path, "targets: 7\n");
    assert.equal(await loadMetricsLevel(path), "target");
    await writeFile(path, "metrics: service\n");
    await assert.rejects(loadMetricsLevel(path), (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.deepEqual(error.problems, ['metrics: expected target or cluster, got "service"']);
      return true;
    });
  });
});

describe("shipped schema and examples", () => {
  it("infra/config.schema.json is exactly what configJsonSchema() generates (run npm run schema)", async () => {
    const shipped: unknown = JSON.parse(await readFile(new URL("infra/config.schema.json", repoRoot), "utf8"));

    assert.deepEqual(shipped, JSON.parse(JSON.stringify(configJsonSchema())));
  });

  it("every property in infra/config.schema.json has a description, so editors show what each field means", async () => {
    const shipped: unknown = JSON.parse(await readFile(new URL("infra/config.schema.json", repoRoot), "utf8"));
    const undescribed: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (typeof node !== "object" || node === null) return;
      const schema = node as { properties?: Record<string, { description?: unknown }>; items?: unknown; additionalProperties?: unknown; anyOf?: unknown[]; oneOf?: unknown[]; allOf?: unknown[] };
      for (const [key, property] of Object.entries(schema.properties ?? {})) {
        if (typeof property.description !== "string" || property.description === "") undescribed.push(`${path}.${key}`);
        walk(property, `${path}.${key}`);
      }
      walk(schema.items, `${path}[]`);
      walk(schema.additionalProperties, `${path}{}`);
      for (const branch of [...(schema.anyOf ?? []), ...(schema.oneOf ?? []), ...(schema.allOf ?? [])]) walk(branch, path);
    };
    walk(shipped, "$");

    assert.ok(JSON.stringify(shipped).split('"properties"').length > 40, "the walk should see the schema's many objects");
    assert.deepEqual(undescribed, []);
  });

  it("every infra/examples/*.yaml validates", async () => {
    const folder = new URL("infra/examples/", repoRoot);
    const files = existsSync(folder) ? (await readdir(folder)).filter((name) => name.endsWith(".yaml") || name.endsWith(".yml")) : [];
    for (const file of files) {
      const input: unknown = parseYaml(await readFile(new URL(file, folder), "utf8"));
      const result = validateConfig(input);
      assert.deepEqual(result.ok ? [] : result.problems, [], `${file} should validate`);
    }
  });
});
