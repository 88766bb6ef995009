// The command line against a real API server: table and JSON output, a dry run that writes nothing,
// KUBECONFIG honoured by a cluster entry without a kubeconfig of its own, the exit codes (1 for a failed target,
// 0 for a clean sync, 2 for a bad config or an unknown target, 3 for a degraded run: a DNS source whose server,
// a real one on loopback, answers SERVFAIL), and the release in --version and in the User-Agent of every
// request the API server's audit log shows.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { selectorlessService, startTestCluster, type TestCluster } from "../harness/cluster.ts";
import { startDnsServer, type TestDnsServer } from "../harness/dns-server.ts";

const NAMESPACE = "ees-cli";
const CLI = join(import.meta.dirname, "../../functions/cli.ts");
const { version } = JSON.parse(await readFile(join(import.meta.dirname, "../../package.json"), "utf8")) as { version: string };
const ETCD_NAME = "etcd.cli.internal";
let cluster: TestCluster;
let dns: TestDnsServer;
let configPath: string;
let dnsConfigPath: string;

before(async () => {
  [cluster, dns] = await Promise.all([startTestCluster([NAMESPACE]), startDnsServer()]);
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
});

after(async () => {
  await dns?.stop();
  await cluster?.stop();
});

async function cli(args: string[]) {
  const env = { ...process.env, KUBECONFIG: cluster.kubeconfig };
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
});
