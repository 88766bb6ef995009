// Health over runs, against a real API server (the syncer as its least-privilege user) and real backends:
// a 3-member etcd cluster with TLS client auth and HTTP backends in a network namespace.
//
// Cases: rise/fall across separate CLI processes, so the state really comes from the cluster (an etcd member
// stopped turns not ready after `fall` runs and ready again after `rise` runs; its stored record carries the
// reason; a steady run writes nothing); all backends down keeps the endpoints and reports neverEmpty; every
// backend of two targets black-holed keeps what is published, stamps the status and raises a Warning
// (checkerSelfCheck), one target's one dead backend does not, and a canary decides when named; maxRemovalsPerRun holds the
// rest back; minHealthy with publishAll publishes every backend ready; fast detection writes a failure
// within one invocation; check: none publishes ready with no health stored.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { createTestNetwork, type BackendFleet, type TestNetwork } from "../../infra/netns/test-network.ts";
import { runSync } from "../../functions/engine/run.ts";
import { ClusterConnections } from "../../functions/kube/client.ts";
import { memoryName, readMemory } from "../../functions/registry/remembered.ts";
import { LAST_SYNC } from "../../functions/plan/status.ts";
import type { RunReport } from "../../functions/report/report.ts";
import { selectorlessService, startTestCluster, testConfig, type TestCluster } from "../harness/cluster.ts";
import { ETCD_CLIENT_PORT, startEtcdCluster, type EtcdCluster } from "../harness/etcd-cluster.ts";
import { CLI } from "../harness/cli.ts";

const NAMESPACE = "ees-hc-sync";
const ETCD = ["198.18.42.2", "198.18.42.3", "198.18.42.4"];
const PORT = 8080;
/** Twenty HTTP backends, handed out to the tests below so none shares another's. */
const WEB = Array.from({ length: 20 }, (_, index) => `198.18.42.${10 + index}`);

let cluster: TestCluster;
let network: TestNetwork;
let fleet: BackendFleet;
let etcd: EtcdCluster;
let dir: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ees-hc-sync-"));
  cluster = await startTestCluster([NAMESPACE]);
  network = await createTestNetwork({ name: "ees-hc-syn", subnetIndex: 42 });
  await network.addAddresses([...ETCD, ...WEB]);
  fleet = await network.startBackends();
  for (const address of WEB) await fleet.listen(address, PORT);
  etcd = await startEtcdCluster(network, ETCD, path.join(dir, "etcd"));
});

after(async () => {
  await etcd?.destroy();
  await network?.destroy();
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function createService(name: string, port = PORT) {
  await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, name, [{ name: "main", port }]) });
}

function webTarget(service: string, addresses: string[], overrides: Record<string, unknown> = {}) {
  return {
    name: service,
    cluster: "test",
    namespace: NAMESPACE,
    service,
    ports: [{ name: "main", port: PORT }],
    sources: [{ name: "vms", static: addresses.map((address) => ({ address })) }],
    check: { http: { path: "/healthz", timeoutMs: 1000 } },
    ...overrides,
  };
}

async function sync(targets: Record<string, unknown>[], extra: Record<string, unknown> = {}): Promise<RunReport> {
  const config = testConfig({ clusters: [{ name: "test", kubeconfig: cluster.kubeconfig }], targets, policy: "upsert-only", ...extra });
  await cluster.grant(config);
  return runSync(config, new ClusterConnections(config.clusters), { fastDetection: true });
}

async function readiness(service: string): Promise<Record<string, boolean | undefined>> {
  const list = await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: `kubernetes.io/service-name=${service}` });
  return Object.fromEntries(list.items.flatMap((slice: V1EndpointSlice) => (slice.endpoints ?? []).map((endpoint) => [endpoint.addresses[0], endpoint.conditions?.ready])));
}

async function statusStamp(service: string): Promise<string | undefined> {
  const list = await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: `kubernetes.io/service-name=${service}` });
  return list.items.map((slice) => slice.metadata?.annotations?.[LAST_SYNC]).find((stamp) => stamp !== undefined);
}

/** Backdates a Service's status stamp by an hour, as if the syncer had written nothing since. */
async function ageStatusStamp(service: string): Promise<void> {
  const list = await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: `kubernetes.io/service-name=${service}` });
  const slice = list.items.find((item) => item.metadata?.annotations?.[LAST_SYNC] !== undefined)!;
  const annotations = { ...slice.metadata!.annotations, [LAST_SYNC]: new Date(Date.now() - 3_600_000).toISOString() };
  await cluster.admin.discovery.replaceNamespacedEndpointSlice({ namespace: NAMESPACE, name: slice.metadata!.name!, body: { ...slice, metadata: { ...slice.metadata, annotations } } });
}

async function serviceEvents(service: string) {
  const list = await cluster.admin.core.listNamespacedEvent({ namespace: NAMESPACE, fieldSelector: `involvedObject.kind=Service,involvedObject.name=${service}` });
  return list.items;
}

describe("rise and fall across separate processes", () => {
  it("turns a stopped etcd member not ready after fall runs, and ready after rise runs, from state kept in the cluster", async () => {
    await createService("etcd", ETCD_CLIENT_PORT);
    const configPath = path.join(dir, "etcd.yaml");
    await writeFile(
      configPath,
      stringify({
        policy: "upsert-only",
        clusters: [{ name: "test", kubeconfig: cluster.kubeconfig }],
        targets: [
          {
            name: "etcd",
            cluster: "test",
            namespace: NAMESPACE,
            service: "etcd",
            ports: [{ name: "main", port: ETCD_CLIENT_PORT }],
            sources: [{ name: "members", static: ETCD.map((address) => ({ address })) }],
            check: { etcd: { caFile: etcd.ca.caFile, certFile: etcd.client.certFile, keyFile: etcd.client.keyFile, timeoutMs: 1500 } },
            rise: 2,
            fall: 2,
          },
        ],
      }),
    );
    await cluster.grant(configPath);
    const cli = async () => {
      const { stdout } = await promisify(execFile)(process.execPath, [CLI, "sync", "--config", configPath, "-o", "json"]);
      const report = JSON.parse(stdout) as RunReport;
      assert.equal(report.ok, true, stdout);
      return { report, ready: await readiness("etcd") };
    };
    const m2 = ETCD[1]!;
    const healthOf = (report: RunReport) => report.targets[0]!.backends.find((backend) => backend.address === m2)?.health;

    assert.deepEqual((await cli()).ready, { [ETCD[0]!]: true, [m2]: true, [ETCD[2]!]: true }, "a new member is ready after one pass");
    const mark = await cluster.auditMark();
    assert.equal((await cli()).report.targets[0]!.writes, 0);
    assert.deepEqual(await cluster.syncerWritesSince(mark), [], "a steady run writes nothing, its stored health included");

    await etcd.stopMember("m2");
    let run = await cli();
    assert.equal(run.ready[m2], true, "one failing run is not enough");
    assert.deepEqual([healthOf(run.report)?.healthy, healthOf(run.report)?.streak, healthOf(run.report)?.reason], [true, 1, "ConnRefused"]);
    run = await cli();
    assert.equal(run.ready[m2], false, "not ready after fall = 2 failing runs");

    const stored = await cluster.admin.core.readNamespacedConfigMap({ namespace: NAMESPACE, name: memoryName("etcd") });
    const record = readMemory(stored, { ownerId: "default", installation: "default", cluster: "test" }).memory.backends[m2]?.health;
    assert.deepEqual([record?.healthy, record?.streak, record?.reason, record?.detail], [false, 0, "ConnRefused", "ECONNREFUSED"]);

    await etcd.startMember("m2");
    run = await cli();
    assert.equal(run.ready[m2], false, "one passing run is not enough");
    assert.equal(run.report.targets[0]!.backends.find((backend) => backend.address === m2)?.reason, "Passed");
    run = await cli();
    assert.equal(run.ready[m2], true, "ready after rise = 2 passing runs");
  });
});

describe("unchecked backends", () => {
  it("publishes every backend of a check: none target ready, and stores no health for them", async () => {
    await createService("unchecked");
    const report = await sync([webTarget("unchecked", WEB.slice(16, 18), { check: { none: {} } })]);
    assert.deepEqual(await readiness("unchecked"), { [WEB[16]!]: true, [WEB[17]!]: true });
    assert.ok(report.targets[0]!.backends.every((backend) => backend.health === undefined));
  });
});

describe("guards", () => {
  it("keeps the published endpoints when every backend is down, and reports neverEmpty", async () => {
    const backends = WEB.slice(0, 3);
    await createService("alldown");
    const target = webTarget("alldown", backends, { rise: 1, fall: 1 });
    await sync([target]);
    for (const address of backends) await fleet.close(address, PORT);
    try {
      const report = await sync([target]);
      const result = report.targets[0]!;
      assert.deepEqual(result.guards.map((trip) => trip.guard), ["neverEmpty"]);
      assert.match(result.guards[0]!.detail, /no backend healthy of 3: kept the published set \(3 endpoints, 3 ready\)/);
      assert.deepEqual(result.endpoints, { ready: 3, notReady: 0 });
      assert.deepEqual(await readiness("alldown"), Object.fromEntries(backends.map((address) => [address, true])));
    } finally {
      for (const address of backends) await fleet.listen(address, PORT);
    }
  });

  it("keeps every endpoint when the backends of every target go unanswered (checker self-check), stamping the status and raising a Warning", async () => {
    const [first, second] = [WEB.slice(3, 5), WEB.slice(5, 7)];
    await createService("island-a");
    await createService("island-b");
    const targets = [webTarget("island-a", first, { rise: 1, fall: 1 }), webTarget("island-b", second, { rise: 1, fall: 1 })];
    await sync(targets);
    // A stamp due for its refresh: the self-check must not leave the syncer looking dead.
    for (const service of ["island-a", "island-b"]) await ageStatusStamp(service);
    await network.blackhole([...first, ...second]);
    try {
      const mark = await cluster.auditMark();
      const report = await sync(targets);
      const writes = (await cluster.syncerWritesSince(mark)).map((event) => `${event.verb} ${event.objectRef?.resource}`).sort();
      assert.deepEqual(writes, ["create events", "create events", "update configmaps", "update configmaps", "update endpointslices", "update endpointslices"]);
      for (const result of report.targets) {
        assert.deepEqual(result.guards.map((trip) => trip.guard), ["checkerSelfCheck"]);
        assert.match(result.guards[0]!.detail, /all 4 probed backends of 2 targets went unanswered/);
        assert.deepEqual(result.endpoints, { ready: 2, notReady: 0 });
        assert.ok(result.backends.every((backend) => backend.reason === "Timeout"));
        assert.deepEqual(await readiness(result.service), Object.fromEntries((result.service === "island-a" ? first : second).map((address) => [address, true])));
        assert.ok(Date.now() - Date.parse((await statusStamp(result.service)) ?? "") < 60_000, "the stamp is fresh");
        const warnings = (await serviceEvents(result.service)).filter((event) => event.type === "Warning");
        assert.deepEqual(warnings.map((event) => event.reason), ["GuardTripped"]);
        assert.match(warnings[0]!.message ?? "", /checkerSelfCheck: all 4 probed backends of 2 targets went unanswered: taking the checker to be cut off/);
      }

      const again = await cluster.auditMark();
      await sync(targets);
      assert.deepEqual(await cluster.syncerWritesSince(again), [], "still cut off: nothing new to write, no second Warning");
    } finally {
      await network.unblackhole([...first, ...second]);
    }
  });

  it("does not take one target with one black-holed backend for a checker cut off", async () => {
    const [dark] = WEB.slice(7, 8);
    await createService("lone");
    await network.blackhole([dark!]);
    try {
      const report = await sync([webTarget("lone", [dark!], { rise: 1, fall: 1 })]);
      const result = report.targets[0]!;
      assert.deepEqual(result.guards, []);
      assert.equal(result.status, "synced");
      assert.deepEqual(await readiness("lone"), { [dark!]: false });
    } finally {
      await network.unblackhole([dark!]);
    }
  });

  it("takes a canary the config names as the judge: unanswered trips the self-check, answered lets a dead target's backends go", async () => {
    const [canary, ...backends] = WEB.slice(8, 11);
    await createService("canaried");
    const target = webTarget("canaried", backends, { rise: 1, fall: 1, guards: { neverEmpty: false } });
    const selfCheck = { selfCheck: { canary: { address: canary, port: PORT, timeoutMs: 1000 } } };
    await sync([target], selfCheck);
    await network.blackhole([canary!, ...backends]);
    try {
      const cutOff = (await sync([target], selfCheck)).targets[0]!;
      assert.deepEqual(cutOff.guards.map((trip) => trip.guard), ["checkerSelfCheck"]);
      assert.match(cutOff.guards[0]!.detail, new RegExp(`the canary ${canary}:${PORT} went unanswered \\(Timeout\\)`));
      assert.deepEqual(await readiness("canaried"), Object.fromEntries(backends.map((address) => [address, true])));

      await network.unblackhole([canary!]);
      const answered = (await sync([target], selfCheck)).targets[0]!;
      assert.deepEqual(answered.guards, []);
      assert.deepEqual(await readiness("canaried"), Object.fromEntries(backends.map((address) => [address, false])));
    } finally {
      await network.unblackhole([canary!, ...backends]);
    }
  });

  it("stops probing in time to write when the run's deadline comes, keeps what had no verdict, and reports the run cut short", async () => {
    const backends = WEB.slice(11, 13);
    await createService("hurried");
    const target = webTarget("hurried", backends, { rise: 1, fall: 1, check: { http: { path: "/healthz", timeoutMs: 5000 } } });
    await sync([target]);
    await network.blackhole(backends);
    try {
      const config = testConfig({ clusters: [{ name: "test", kubeconfig: cluster.kubeconfig }], targets: [target], policy: "upsert-only" });
      const started = Date.now();
      const report = await runSync(config, new ClusterConnections(config.clusters), { deadline: started + 2500 });
      assert.ok(Date.now() - started < 2500, `the run took ${Date.now() - started} ms`);
      assert.equal(report.cutShort, true);
      assert.equal(report.ok, false);
      const result = report.targets[0]!;
      assert.deepEqual(result.kept.map((kept) => kept.reason), ["checker error: run cancelled", "checker error: run cancelled"]);
      assert.deepEqual(await readiness("hurried"), Object.fromEntries(backends.map((address) => [address, true])));
    } finally {
      await network.unblackhole(backends);
    }
  });

  it("lets at most maxRemovalsPerRun ready endpoints go in one run", async () => {
    const backends = WEB.slice(7, 11);
    await createService("capped");
    const target = webTarget("capped", backends, { rise: 1, fall: 1, guards: { maxRemovalsPerRun: 1 } });
    await sync([target]);
    const failing = backends.slice(0, 3);
    for (const address of failing) await fleet.close(address, PORT);
    try {
      const first = await sync([target]);
      assert.deepEqual(first.targets[0]!.guards.map((trip) => trip.guard), ["maxRemovalsPerRun"]);
      assert.match(first.targets[0]!.guards[0]!.detail, /3 ready endpoints would stop being ready, more than maxRemovalsPerRun 1: 2 stay ready this run/);
      assert.deepEqual(Object.values(await readiness("capped")).filter((ready) => ready === false).length, 1);
      await sync([target]);
      assert.deepEqual(Object.values(await readiness("capped")).filter((ready) => ready === false).length, 2);
    } finally {
      for (const address of failing) await fleet.listen(address, PORT);
    }
  });

  it("publishes every backend ready below minHealthy with belowMinHealthy: publishAll (panic mode)", async () => {
    const backends = WEB.slice(11, 14);
    await createService("panic");
    const target = webTarget("panic", backends, { rise: 1, fall: 1, guards: { minHealthy: 2, belowMinHealthy: "publishAll" } });
    for (const address of backends.slice(0, 2)) await fleet.close(address, PORT);
    try {
      const report = await sync([target]);
      assert.deepEqual(report.targets[0]!.guards.map((trip) => trip.guard), ["minHealthy"]);
      assert.match(report.targets[0]!.guards[0]!.detail, /1 of 3 backends healthy, fewer than minHealthy 2 \(2\): published all 3 ready \(panic mode\)/);
      assert.deepEqual(await readiness("panic"), Object.fromEntries(backends.map((address) => [address, true])));
    } finally {
      for (const address of backends.slice(0, 2)) await fleet.listen(address, PORT);
    }
  });
});

describe("fast detection", () => {
  it("re-checks within one invocation and writes a failure as soon as fall rounds have seen it", async () => {
    const backends = WEB.slice(14, 16);
    await createService("fast");
    const running = sync([webTarget("fast", backends, { rise: 2, fall: 2 })], { fastDetection: { everySeconds: 1, forSeconds: 8 } });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await fleet.close(backends[0]!, PORT);
    const stoppedAt = performance.now();
    try {
      let detectedAfter: number | undefined;
      while (detectedAfter === undefined && performance.now() - stoppedAt < 7000) {
        if ((await readiness("fast"))[backends[0]!] === false) detectedAfter = performance.now() - stoppedAt;
        else await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const report = await running;
      assert.ok(detectedAfter !== undefined && detectedAfter < 4000, `detected after ${detectedAfter} ms`);
      assert.ok((report.rounds ?? 1) >= 6, `rounds: ${report.rounds}`);
      assert.equal(report.targets[0]!.status, "synced");
    } finally {
      await fleet.listen(backends[0]!, PORT);
    }
  });
});
