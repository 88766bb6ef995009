// The command line against a real API server: table, JSON and YAML output, a dry run that writes nothing,
// KUBECONFIG honoured by a cluster entry without a kubeconfig of its own, and --kubeconfig and --context over
// it (a kubeconfig with two contexts), the exit codes (1 for a failed target, 0 for a clean sync, 2 for a bad
// config, flag or unknown target, 3 for a degraded run: a DNS source whose server, a real one on loopback,
// answers SERVFAIL), --log-level's JSON lines on stderr, the release in --version and in the User-Agent of
// every request the API server's audit log shows, and `status`: after syncs of real backends in a network
// namespace (one listening, one refusing), what the memory holds and the slices publish, read with gets and
// lists alone.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { parse, stringify } from "yaml";
import { createTestNetwork, type BackendFleet, type TestNetwork } from "../../infra/netns/test-network.ts";
import type { StatusReport } from "../../functions/cli/status.ts";
import { selectorlessService, startTestCluster, type TestCluster } from "../harness/cluster.ts";
import { startDnsServer, type TestDnsServer } from "../harness/dns-server.ts";
import { CLI } from "../harness/cli.ts";

const NAMESPACE = "ees-cli";
const { version } = JSON.parse(await readFile(join(import.meta.dirname, "../../package.json"), "utf8")) as { version: string };
const ETCD_NAME = "etcd.cli.internal";
let cluster: TestCluster;
let dns: TestDnsServer;
let configPath: string;
let dnsConfigPath: string;
let network: TestNetwork;
let fleet: BackendFleet;
let webConfigPath: string;
const LISTENING = "198.18.161.2";
const REFUSING = "198.18.161.3";
const WEB_PORT = 8080;

before(async () => {
  [cluster, dns, network] = await Promise.all([startTestCluster([NAMESPACE]), startDnsServer(), createTestNetwork({ name: "ees-cli", subnetIndex: 161 })]);
  await network.addAddresses([LISTENING, REFUSING]);
  fleet = await network.startBackends();
  await fleet.listen(LISTENING, WEB_PORT, { kind: "tcp" });
  await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, "db", [{ name: "pg", port: 5432 }]) });
  configPath = join(cluster.local.dir, "cli.yaml");
  // No kubeconfig in the cluster entry: the CLI must take KUBECONFIG, as kubectl does.
  await writeFile(
    configPath,
    stringify({
      clusters: [{ name: "here" }],
      targets: [
        { name: "db", cluster: "here", namespace: NAMESPACE, service: "db", ports: [{ name: "pg", port: 5432 }], sources: [{ static: [{ address: "192.0.2.7" }, { address: "127.0.0.1" }] }], check: { none: {} } },
        { name: "ghost", cluster: "here", namespace: NAMESPACE, service: "ghost", ports: [{ port: 1 }], sources: [{ static: [{ address: "192.0.2.8" }] }], check: { none: {} } },
      ],
    }),
  );
  await cluster.grant(configPath, "here");

  await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, "etcd", [{ name: "client", port: 2379 }]) });
  dnsConfigPath = join(cluster.local.dir, "cli-dns.yaml");
  await writeFile(
    dnsConfigPath,
    stringify({
      clusters: [{ name: "here" }],
      targets: [
        { name: "etcd", cluster: "here", namespace: NAMESPACE, service: "etcd", ports: [{ name: "client", port: 2379 }], sources: [{ name: "members", dns: { name: ETCD_NAME, types: ["A"], server: dns.server, timeoutMs: 500 } }], check: { none: {} } },
      ],
    }),
  );
  await cluster.grant(dnsConfigPath, "here");

  await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, "web", [{ name: "http", port: WEB_PORT }]) });
  webConfigPath = join(cluster.local.dir, "cli-web.yaml");
  await writeFile(
    webConfigPath,
    stringify({
      clusters: [{ name: "here" }],
      targets: [
        { name: "web", cluster: "here", namespace: NAMESPACE, service: "web", ports: [{ name: "http", port: WEB_PORT }], sources: [{ name: "vms", static: [{ address: LISTENING }, { address: REFUSING }] }], check: { tcp: {} } },
      ],
    }),
  );
  await cluster.grant(webConfigPath, "here");
});

after(async () => {
  await fleet?.stop();
  await network?.destroy();
  await dns?.stop();
  await cluster?.stop();
});

async function cli(args: string[], kubeconfig = cluster.kubeconfig) {
  const env = { ...process.env, KUBECONFIG: kubeconfig };
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { env });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe("external-endpoint-syncer CLI", () => {
  it("prints the plan endpoint by endpoint in a dry run, writes nothing, and exits 1 when a target failed", async () => {
    const mark = await cluster.auditMark();
    const result = await cli(["sync", "--config", configPath, "--dry-run"]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /^TARGET\s+CLUSTER\s+SERVICE\s+STATUS/m);
    assert.match(result.stdout, /^db\s+here\s+ees-cli\/db\s+planned/m);
    assert.match(result.stdout, /db: would create EndpointSlice ees-cli\/db-ipv4-0: \+ 192\.0\.2\.7/);
    assert.match(result.stdout, /db: left out 127\.0\.0\.1 \(static\[0\]\): loopback address/);
    assert.match(result.stdout, /ghost: error: Service ees-cli\/ghost not found/);
    assert.match(result.stdout, /dry run: nothing was written/);
    assert.deepEqual(await cluster.syncerWritesSince(mark), []);
  });

  it("prints package.json's version with --version, exiting 0, and lists it in the usage", async () => {
    const result = await cli(["--version"]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `external-endpoint-syncer ${version}\n`);
    assert.match((await cli(["--help"])).stdout, /^ {2}--version {7}print the release and exit$/m);
  });

  it("syncs one target with --target and reports JSON with -o json, exiting 0, every request naming the release", async () => {
    const mark = await cluster.auditMark();
    const result = await cli(["sync", "--config", configPath, "--target", "db", "-o", "json"]);
    assert.equal(result.code, 0, result.stderr);
    const report = JSON.parse(result.stdout) as { ok: boolean; targets: { target: string; status: string; writes: number }[] };
    assert.equal(report.ok, true);
    assert.deepEqual(report.targets.map((target) => [target.target, target.status, target.writes]), [["db", "synced", 3]]);
    const slices = await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: "kubernetes.io/service-name=db" });
    assert.deepEqual(slices.items.map((slice) => slice.endpoints?.map((endpoint) => endpoint.addresses[0])), [["192.0.2.7"]]);
    // Reads and writes alike: the Service's get, the slices' list, the creates.
    const requests = await cluster.syncerRequestsSince(mark);
    assert.ok(requests.some((event) => event.verb === "get") && requests.some((event) => event.verb === "create"), JSON.stringify(requests.map((event) => event.verb)));
    assert.deepEqual([...new Set(requests.map((event) => event.userAgent))], [`external-endpoint-syncer/${version}`]);
  });

  it("exits 3 and says degraded when a source fails, keeping what it published", async () => {
    dns.set(ETCD_NAME, { A: ["192.0.2.41", "192.0.2.42"] });
    // --target: this config lists only etcd, so a prune under it would remove the db target's objects.
    const clean = await cli(["sync", "--config", dnsConfigPath, "--target", "etcd"]);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
    assert.match(clean.stdout, /^etcd\s+here\s+ees-cli\/etcd\s+synced/m);

    dns.misbehave(ETCD_NAME, "servfail");
    const degraded = await cli(["sync", "--config", dnsConfigPath, "--target", "etcd"]);
    assert.equal(degraded.code, 3, degraded.stdout + degraded.stderr);
    assert.match(degraded.stdout, /^etcd\s+here\s+ees-cli\/etcd\s+degraded\s/m);
    assert.match(degraded.stdout, /^etcd: source members failed: .*SERVFAIL/m);
    assert.match(degraded.stdout, /^etcd: guard failedSource: source members failed: kept the 2 endpoints it published/m);
    assert.match(degraded.stdout, /^degraded: 1 target ran with a failed source/m);
    const slices = await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: "kubernetes.io/service-name=etcd" });
    assert.deepEqual(slices.items.flatMap((slice) => slice.endpoints?.map((endpoint) => endpoint.addresses[0]) ?? []).sort(), ["192.0.2.41", "192.0.2.42"]);

    const json = await cli(["sync", "--config", dnsConfigPath, "--target", "etcd", "-o", "json"]);
    assert.equal(json.code, 3);
    const report = JSON.parse(json.stdout) as { ok: boolean; degraded: boolean; targets: { status: string }[] };
    assert.deepEqual([report.ok, report.degraded, report.targets[0]?.status], [true, true, "degraded"]);
  });

  it("exits 2 with every problem of an invalid config, and for an unknown target", async () => {
    const bad = join(cluster.local.dir, "bad.yaml");
    await writeFile(bad, stringify({ clusters: [{ name: "here" }], targets: [{ name: "x", cluster: "here", namespace: "N", service: "s", ports: [{ port: 70000 }], sources: [{ static: [{ address: "192.0.2.1" }] }] }] }));
    const invalid = await cli(["sync", "--config", bad]);
    assert.equal(invalid.code, 2);
    assert.match(invalid.stderr, /targets\[0\]\.namespace: expected a DNS label .*got "N"/);
    assert.match(invalid.stderr, /targets\[0\]\.ports\[0\]\.port: expected 1-65535, got 70000/);
    const unknown = await cli(["sync", "--config", configPath, "--target", "nope"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /no target named "nope"/);
  });

  it("exits 2 with a one-line reason and the usage for a flag the command does not take, and for the removed --json", async () => {
    for (const [args, reason] of [
      [["status", "--config", configPath, "--dry-run"], "status does not take --dry-run"],
      [["sync", "--config", configPath, "--json"], "--json is gone: use -o json"],
      [["sync", "--config", configPath, "-o", "wide"], '-o: expected table, json or yaml; got "wide"'],
      [["sync", "--config", dnsConfigPath, "--context", "x", "--kubeconfig"], "Option '--kubeconfig <value>' argument missing"],
    ] as const) {
      const result = await cli([...args]);
      assert.equal(result.code, 2, result.stderr);
      assert.equal(result.stdout, "");
      assert.ok(result.stderr.startsWith(`${reason}\n\nusage: external-endpoint-syncer sync --config FILE`), result.stderr);
    }
  });

  it("logs JSON lines on stderr at --log-level, nothing for a clean run by default, and keeps stdout for the output", async () => {
    const quiet = await cli(["sync", "--config", configPath, "--target", "db", "--dry-run"]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stderr, "");
    const info = await cli(["sync", "--config", configPath, "--target", "db", "--dry-run", "--log-level", "info", "-o", "json"]);
    assert.equal(info.code, 0, info.stderr);
    assert.equal((JSON.parse(info.stdout) as { dryRun: boolean }).dryRun, true);
    const lines = info.stderr.trim().split("\n").map((line) => JSON.parse(line) as { level: string; message: string; version: string; target?: string });
    assert.deepEqual(lines.map((line) => [line.level, line.message, line.target, line.version]), [
      ["INFO", "target synced", "db", version],
      ["INFO", "sync finished", undefined, version],
    ]);
    const failed = await cli(["sync", "--config", configPath, "--target", "ghost", "--dry-run"]);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /^\{"level":"ERROR","message":"target failed",.*"error":"Service ees-cli\/ghost not found/m);
    const silent = await cli(["sync", "--config", configPath, "--target", "ghost", "--dry-run", "--log-level", "silent"]);
    assert.deepEqual([silent.code, silent.stderr], [1, ""]);
  });

  it("status shows what the syncs remembered and published, backend by backend, reading and writing nothing else", async () => {
    assert.equal((await cli(["sync", "--config", webConfigPath])).code, 0);
    // The listening backend now fails once: still healthy and ready (fall 2), its streak 1.
    await fleet.close(LISTENING, WEB_PORT);
    assert.equal((await cli(["sync", "--config", webConfigPath])).code, 0);

    const mark = await cluster.auditMark();
    const table = await cli(["status", "--config", webConfigPath]);
    assert.equal(table.code, 0, table.stderr);
    assert.equal(table.stderr, "");
    assert.match(table.stdout, /^TARGET\s+ADDRESS\s+PUBLISHED\s+HEALTH\s+STREAK\s+LAST\s+SINCE\s+SOURCES$/m);
    assert.match(table.stdout, /^web\s+198\.18\.161\.2\s+ready\s+healthy\s+1 failing\s+ConnRefused\s+\d{4}-\d\d-\d\dT[\d:.]+Z\s+vms$/m);
    assert.match(table.stdout, /^web\s+198\.18\.161\.3\s+not ready\s+unhealthy\s+0\s+ConnRefused\s+\S+Z\s+vms$/m);
    const requests = await cluster.syncerRequestsSince(mark);
    assert.deepEqual([...new Set(requests.map((event) => `${event.verb} ${event.objectRef?.resource}`))].sort(), ["get configmaps", "get endpoints", "get services", "list endpointslices"]);
    assert.ok(requests.every((event) => event.responseStatus?.code === 200), JSON.stringify(requests.map((event) => event.responseStatus)));

    const json = await cli(["status", "--config", webConfigPath, "-o", "json"]);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as StatusReport;
    const [web] = report.targets;
    assert.deepEqual(
      web!.backends.map((backend) => [backend.address, backend.published, backend.sources, backend.health?.healthy, backend.health?.streak, backend.health?.reason]),
      [
        [LISTENING, { ready: true }, ["vms"], true, 1, "ConnRefused"],
        [REFUSING, { ready: false }, ["vms"], false, 0, "ConnRefused"],
      ],
    );
    // Healthy since the first sync, which is before this status.
    assert.ok(Date.parse(web!.backends[0]!.health!.since) <= Date.now());
    const yaml = await cli(["status", "--config", webConfigPath, "-o", "yaml"]);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.deepEqual(parse(yaml.stdout), report);
    assert.deepEqual(await cluster.syncerWritesSince(mark), []);
  });

  it("status exits 0 naming a missing Service, 1 when a target cannot be read, 2 for an unknown target", async () => {
    const missing = await cli(["status", "--config", configPath, "--target", "ghost"]);
    assert.equal(missing.code, 0, missing.stderr);
    assert.match(missing.stdout, /^ghost: Service ees-cli\/ghost not found$/m);
    assert.match(missing.stdout, /^ghost: nothing remembered or published$/m);

    // A target in a namespace its RBAC was never granted for: the API server refuses the reads.
    const ungranted = join(cluster.local.dir, "cli-ungranted.yaml");
    await writeFile(ungranted, stringify({ clusters: [{ name: "here" }], targets: [{ name: "elsewhere", cluster: "here", namespace: "default", service: "web", ports: [{ port: 1 }], sources: [{ static: [{ address: "192.0.2.9" }] }] }] }));
    const refused = await cli(["status", "--config", ungranted]);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stdout, /^elsewhere: could not be read: .*403/m);
    assert.match(refused.stderr, /"message":"target unreadable"/);

    const unknown = await cli(["status", "--config", configPath, "--target", "nope"]);
    assert.deepEqual([unknown.code, unknown.stderr.trim()], [2, 'no target named "nope"']);
  });

  it("reaches the cluster through --kubeconfig and --context, kubectl's way, for a one-cluster config only", async () => {
    // The syncer's kubeconfig with a second context, current, whose server is a closed port.
    const kubeconfig = parse(await readFile(cluster.kubeconfig, "utf8")) as {
      clusters: { name: string; cluster: Record<string, unknown> }[];
      contexts: { name: string; context: { cluster: string; user: string } }[];
      "current-context": string;
    };
    const syncer = kubeconfig.contexts[0]!;
    kubeconfig.clusters.push({ name: "nowhere", cluster: { ...kubeconfig.clusters[0]!.cluster, server: "https://127.0.0.1:1" } });
    kubeconfig.contexts.push({ name: "nowhere", context: { ...syncer.context, cluster: "nowhere" } });
    kubeconfig["current-context"] = "nowhere";
    const twoContexts = join(cluster.local.dir, "two-contexts.kubeconfig");
    await writeFile(twoContexts, stringify(kubeconfig));
    const absent = join(cluster.local.dir, "absent.kubeconfig");

    const current = await cli(["status", "--config", webConfigPath, "--kubeconfig", twoContexts], absent);
    assert.equal(current.code, 1, current.stdout);
    assert.match(current.stdout, /^web: could not be read: get Service ees-cli\/web: fetch failed$/m);
    const chosen = await cli(["status", "--config", webConfigPath, "--kubeconfig", twoContexts, "--context", syncer.name], absent);
    assert.equal(chosen.code, 0, chosen.stdout + chosen.stderr);
    assert.match(chosen.stdout, /^web\s+198\.18\.161\.2\s+ready/m);
    const contextAlone = await cli(["sync", "--config", configPath, "--target", "db", "--context", syncer.name, "--dry-run"], twoContexts);
    assert.equal(contextAlone.code, 0, contextAlone.stdout + contextAlone.stderr);
    assert.match(contextAlone.stdout, /^db\s+here\s+ees-cli\/db\s+planned/m);
    const noSuch = await cli(["status", "--config", webConfigPath, "--context", "nope"], twoContexts);
    assert.equal(noSuch.code, 1);
    assert.match(noSuch.stdout, /^web: could not be read: cluster here: no context "nope" in its kubeconfig$/m);

    const twoClusters = join(cluster.local.dir, "cli-two-clusters.yaml");
    await writeFile(twoClusters, stringify({ clusters: [{ name: "here" }, { name: "there" }], targets: [] }));
    const refused = await cli(["status", "--config", twoClusters, "--context", syncer.name]);
    assert.equal(refused.code, 2);
    assert.ok(refused.stderr.startsWith(`--context: for a config with one cluster entry; ${twoClusters} has 2 (here, there)\n\nusage:`), refused.stderr);
  });
});
