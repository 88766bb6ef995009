// The memory ConfigMap as untrusted input, against a real API server (the syncer as its least-privilege user)
// and real backends in a network namespace. Anyone with the `edit` role in the namespace can write ConfigMaps.
//
// Cases: a hostile record ({"healthy":"yes","streak":"abc"}) for a backend that died: not ready within fall
// runs, with a warning; a 199 KiB gzip bomb: the CLI syncs in a 128 MB heap, reports it and rewrites it; a
// ConfigMap by the memory's name that is not ours: never written (audit log), and the report says rise/fall
// cannot be remembered; 50,000 IPv6 backends: the engine writes a memory under the bound, and a memory of
// 50,000 health records is written by the syncer's user and read back whole.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { gzipSync } from "node:zlib";
import type { V1ConfigMap } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { createTestNetwork, type BackendFleet, type TestNetwork } from "../../infra/netns/test-network.ts";
import type { TargetMemory } from "../../functions/decide/memory.ts";
import { applyChanges } from "../../functions/kube/apply.ts";
import { connectCluster } from "../../functions/kube/client.ts";
import { MANAGED_BY, SERVICE, writerLabels } from "../../functions/registry/labels.ts";
import { MAX_STORED_BYTES } from "../../functions/registry/memory-codec.ts";
import { memoryName, readMemory } from "../../functions/registry/remembered.ts";
import { planMemory } from "../../functions/plan/memory-configmap.ts";
import type { RunReport } from "../../functions/report/report.ts";
import { startTestCluster, type TestCluster } from "../harness/cluster.ts";
import { fleetMemory, gzipBomb, randomIpv6 } from "../harness/memory-samples.ts";
import { targetSyncer, type TargetSyncer } from "../harness/target-sync.ts";
import { CLI } from "../harness/cli.ts";

const NAMESPACE = "ees-memory";
const PORT = 8080;
const LIVE = "198.18.73.10";
const DYING = "198.18.73.11";
/** The syncer's labels in targetSyncer's runs: an attacker copies them. */
const WRITER = { ownerId: "default", installation: "default", cluster: "test" };
const OURS = writerLabels(WRITER);

let cluster: TestCluster;
let network: TestNetwork;
let fleet: BackendFleet;
let syncer: TargetSyncer;
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ees-memory-"));
  cluster = await startTestCluster([NAMESPACE]);
  network = await createTestNetwork({ name: "ees-mem", subnetIndex: 73 });
  await network.addAddresses([LIVE, DYING]);
  fleet = await network.startBackends();
  for (const address of [LIVE, DYING]) await fleet.listen(address, PORT);
  syncer = targetSyncer(cluster, NAMESPACE);
});

after(async () => {
  await network?.destroy();
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

const webTarget = (service: string, addresses: string[]) => ({
  name: service,
  service,
  ports: [{ name: "main", port: PORT }],
  sources: [{ name: "vms", static: addresses.map((address) => ({ address })) }],
  check: { http: { path: "/healthz", timeoutMs: 1000 } },
  rise: 2,
  fall: 2,
});

/** Writes the memory ConfigMap as someone with the `edit` role could: any labels, any bytes. */
async function plant(service: string, base64: string, labels: Record<string, string>) {
  const name = memoryName(service);
  const body: V1ConfigMap = { metadata: { name, namespace: NAMESPACE, labels }, binaryData: { "memory.json.gz": base64 } };
  const existing = await cluster.admin.core.readNamespacedConfigMap({ namespace: NAMESPACE, name }).catch(() => undefined);
  if (existing) {
    body.metadata!.resourceVersion = existing.metadata?.resourceVersion;
    await cluster.admin.core.replaceNamespacedConfigMap({ namespace: NAMESPACE, name, body });
  } else {
    await cluster.admin.core.createNamespacedConfigMap({ namespace: NAMESPACE, body });
  }
}

const readStored = (service: string) => cluster.admin.core.readNamespacedConfigMap({ namespace: NAMESPACE, name: memoryName(service) });

describe("memory: hostile content", () => {
  it("a record {healthy: 'yes', streak: 'abc'} no longer keeps a dead backend ready: not ready within fall runs", async () => {
    await syncer.createService("hostile", [{ name: "main", port: PORT }]);
    const target = webTarget("hostile", [LIVE, DYING]);
    await syncer.syncOk([target]);
    assert.deepEqual(Object.values(await syncer.published("hostile")).map((endpoint) => endpoint.ready), [true, true]);

    // The record the finding used: trusted, its streak became "abc1" and the backend stayed ready for ever.
    const record = { healthy: "yes", streak: "abc", reason: "Passed", since: new Date().toISOString(), probedAt: new Date().toISOString() };
    const hostile = { backends: { [LIVE]: { sources: ["vms"] }, [DYING]: { sources: ["vms"], health: record } } };
    await plant("hostile", gzipSync(JSON.stringify(hostile)).toString("base64"), OURS);
    await fleet.close(DYING, PORT);

    const first = await syncer.syncOk([target]);
    assert.ok(
      first.targets[0]!.warnings.some((warning) => warning.includes(`1 unreadable record(s) (the first: "${DYING}") forgotten: those backends start afresh`)),
      first.targets[0]!.warnings.join("\n"),
    );
    await syncer.syncOk([target]);
    const published = await syncer.published("hostile");
    assert.equal(published[DYING]?.ready, false, "not ready after fall = 2 failing runs at the latest");
    assert.equal(published[LIVE]?.ready, true);
    assert.equal(readMemory(await readStored("hostile"), WRITER).problem, undefined, "the memory is whole again");
  });

  it("a 199 KiB gzip bomb: the CLI syncs in a 128 MB heap, reports it and writes a good memory over it", async () => {
    await syncer.createService("bomb", [{ name: "main", port: PORT }]);
    const bomb = gzipBomb();
    assert.ok(bomb.length < 200 * 1024);
    await plant("bomb", bomb.toString("base64"), OURS);

    const configPath = path.join(dir, "bomb.yaml");
    const config = { policy: "upsert-only", clusters: [{ name: "test", kubeconfig: cluster.kubeconfig }], targets: [{ cluster: "test", namespace: NAMESPACE, ...webTarget("bomb", [LIVE]) }] };
    await writeFile(configPath, stringify(config));
    await cluster.grant(configPath);
    const { stdout } = await promisify(execFile)(process.execPath, ["--max-old-space-size=128", CLI, "sync", "--config", configPath, "-o", "json"], { maxBuffer: 16 * 1024 * 1024 });
    const report = JSON.parse(stdout) as RunReport;
    assert.equal(report.ok, true, stdout);
    assert.ok(
      report.targets[0]!.warnings.some((warning) => /memory ConfigMap ees-memory\/bomb-ees-memory unreadable \(over \d+ bytes uncompressed\): starting afresh/.test(warning)),
      report.targets[0]!.warnings.join("\n"),
    );
    assert.equal((await syncer.published("bomb"))[LIVE]?.ready, true);
    const stored = readMemory(await readStored("bomb"), WRITER);
    assert.equal(stored.problem, undefined);
    assert.deepEqual(Object.keys(stored.memory.backends), [LIVE]);
  });
});

describe("memory: a ConfigMap by its name that is not ours", () => {
  it("is never written, and every run reports that rise/fall cannot be remembered", async () => {
    await syncer.createService("taken", [{ name: "main", port: PORT }]);
    await cluster.admin.core.createNamespacedConfigMap({
      namespace: NAMESPACE,
      body: { metadata: { name: memoryName("taken"), namespace: NAMESPACE, labels: { [MANAGED_BY]: "helm" } }, data: { "settings.yaml": "theirs: true" } },
    });
    const mark = await cluster.auditMark();
    for (let run = 0; run < 2; run++) {
      const report = await syncer.syncOk([webTarget("taken", [LIVE])]);
      const target = report.targets[0]!;
      assert.deepEqual(target.foreign, [{ kind: "ConfigMap", name: memoryName("taken"), managedBy: "helm" }]);
      assert.ok(
        target.warnings.includes(
          `memory ConfigMap ${NAMESPACE}/taken-ees-memory is not ours (managed by helm), so it is left alone and rise/fall cannot be remembered: each backend takes this run's verdict`,
        ),
        target.warnings.join("\n"),
      );
    }
    // Other tests' objects may be pruned meanwhile: only writes to this name count.
    const writes = (await cluster.syncerWritesSince(mark)).filter((event) => event.objectRef?.resource === "configmaps" && event.objectRef.name === memoryName("taken"));
    assert.deepEqual(writes, []);
    assert.deepEqual((await readStored("taken")).data, { "settings.yaml": "theirs: true" });
  });
});

describe("memory: 50,000 IPv6 backends", () => {
  it("the engine syncs a 50,000-backend IPv6 target and its memory fits under the bound", async () => {
    await syncer.createService("wide", [{ name: "main", port: PORT }]);
    const addresses = Array.from({ length: 50_000 }, () => randomIpv6(`fd00:198:18:73`));
    const report = await syncer.syncOk([
      {
        name: "wide",
        service: "wide",
        ports: [{ name: "main", port: PORT }],
        sources: [{ name: "vms", static: addresses.map((address) => ({ address })) }],
        check: { none: {} },
        publish: { endpoints: false },
      },
    ]);
    assert.equal(report.targets[0]!.endpoints.ready, 50_000);
    const stored = await readStored("wide");
    assert.ok(Buffer.from(stored.binaryData!["memory.json.gz"]!, "base64").length <= MAX_STORED_BYTES);
    const read = readMemory(stored, WRITER);
    assert.equal(read.problem, undefined);
    assert.equal(Object.keys(read.memory.backends).length, 50_000);
  });

  it("a memory of 50,000 IPv6 health records is written by the syncer's user and read back whole", async () => {
    await syncer.createService("wide-health", [{ name: "main", port: PORT }]);
    const service = await cluster.admin.core.readNamespacedService({ namespace: NAMESPACE, name: "wide-health" });
    const memory = fleetMemory(50_000, "IPv6", Date.now());
    const ref = { namespace: NAMESPACE, name: "wide-health", uid: service.metadata!.uid!, writer: WRITER, ports: [{ name: "main", port: PORT, protocol: "TCP" as const }] };
    const changes = planMemory(ref, { next: memory, existing: undefined, stored: { backends: {} } });
    await applyChanges(connectCluster({ name: "syncer", kubeconfig: cluster.kubeconfig }), changes, WRITER);
    const stored = await readStored("wide-health");
    assert.equal(stored.metadata?.labels?.[SERVICE], "wide-health");
    const read = readMemory(stored, WRITER);
    assert.equal(read.problem, undefined);
    assert.equal(Object.keys(read.memory.backends).length, 50_000);
    const failing = (backends: TargetMemory["backends"]) => Object.values(backends).filter((record) => record.health?.healthy === false).length;
    assert.equal(failing(read.memory.backends), failing(memory.backends));
  });
});
