// The kube writer against a real API server behind the fault proxy (test/harness/kube-fault-proxy.ts), with a
// chosen write failing. Found while building the fault soak: an endpoint that moves to the slice of another port
// set (its SRV port changed) was taken out of its old slice even when the write that adds it to the new one
// failed, so readers saw fewer ready endpoints than either side of the change, beyond maxRemovalsPerRun.
//
// Cases: the write adding a moved endpoint fails: nothing is taken out, and the next run completes the move; a
// failed Endpoints write does not make the next run take out of the Endpoints more than maxRemovalsPerRun (the
// guards count from the slices and the Endpoints laid over them).
// Nothing is probed (check: none): the addresses are TEST-NET ones.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { runSync } from "../../functions/engine/run.ts";
import { ClusterConnections } from "../../functions/kube/client.ts";
import { selectorlessService, startTestCluster, testConfig, type TestCluster } from "../harness/cluster.ts";
import { startDnsServer, type TestDnsServer } from "../harness/dns-server.ts";
import { startKubeFaultProxy, type KubeFaultProxy } from "../harness/kube-fault-proxy.ts";

const NAMESPACE = "ees-kube-faults";
const SRV = "_etcd-client._tcp.faults.internal";
const MEMBERS = ["192.0.2.10", "192.0.2.11", "192.0.2.12", "192.0.2.13"];

let cluster: TestCluster;
let dns: TestDnsServer;
let proxy: KubeFaultProxy;

before(async () => {
  [cluster, dns] = await Promise.all([startTestCluster([NAMESPACE]), startDnsServer()]);
  proxy = await startKubeFaultProxy(cluster.kubeconfig, () => 1);
  await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, "etcd", [{ name: "client", port: 2379 }]) });
  await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, "db", [{ name: "pg", port: 5432 }]) });
  MEMBERS.forEach((address, index) => dns.set(`m${index}.faults.internal`, { A: [address] }));
});

after(async () => {
  await proxy?.stop();
  await dns?.stop();
  await cluster?.stop();
});

/** Member index → its SRV port. */
function publishSrv(ports: Record<number, number>): void {
  dns.set(SRV, { SRV: Object.entries(ports).map(([index, port]) => ({ priority: 0, weight: 10, port, target: `m${index}.faults.internal` })) });
}

const etcdTarget = () => ({
  name: "etcd",
  service: "etcd",
  ports: [{ name: "client", port: 2379 }],
  sources: [{ dns: { name: SRV, types: ["SRV"], server: dns.server } }],
});

const dbTarget = (addresses: string[]) => ({ name: "db", service: "db", ports: [{ name: "pg", port: 5432 }], sources: [{ static: addresses.map((address) => ({ address })) }] });

/** One target per run, so one test's target is never pruned by the other's. */
async function sync(target: Record<string, unknown> = etcdTarget()) {
  const config = testConfig({
    clusters: [{ name: "test", kubeconfig: proxy.kubeconfig }],
    policy: "upsert-only",
    targets: [{ cluster: "test", namespace: NAMESPACE, check: { none: {} }, guards: { maxRemovalsPerRun: 1 }, ...target }],
  });
  // The syncer reaches this cluster through the proxy: its entry is named.
  await cluster.grant(config, "test");
  return runSync(config, new ClusterConnections(config.clusters));
}

/** Ready address → its port, from every slice of the Service. */
async function readyEndpoints(): Promise<Record<string, number>> {
  const slices = await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: "kubernetes.io/service-name=etcd" });
  const entries = slices.items.flatMap((slice) =>
    (slice.endpoints ?? []).filter((endpoint) => endpoint.conditions?.ready).map((endpoint) => [endpoint.addresses[0]!, slice.ports![0]!.port!] as const),
  );
  return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : 1)));
}

describe("writes under a chosen failing write", () => {
  it("takes a moved endpoint out of its old slice only after the new one holds it", async () => {
    publishSrv({ 0: 2379, 1: 2379, 2: 2379, 3: 2380 });
    assert.equal((await sync()).ok, true);
    const published = { "192.0.2.10": 2379, "192.0.2.11": 2379, "192.0.2.12": 2379, "192.0.2.13": 2380 };
    assert.deepEqual(await readyEndpoints(), published);
    const slices = await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: "kubernetes.io/service-name=etcd" });
    const target = slices.items.find((slice) => slice.ports![0]!.port === 2380)!.metadata!.name!;

    // m1 moves to 2380 and m2 leaves (one removal, as maxRemovalsPerRun allows); the write to the 2380 slice fails.
    publishSrv({ 0: 2379, 1: 2380, 3: 2380 });
    proxy.plan({ unavailableFor: new RegExp(`/endpointslices/${target}(\\?|$)`) });
    const failed = await sync();
    assert.equal(failed.targets[0]!.status, "failed");
    assert.deepEqual(await readyEndpoints(), published, "the old slice was changed though the new one could not take the moved endpoint");

    proxy.plan({});
    assert.equal((await sync()).ok, true);
    assert.deepEqual(await readyEndpoints(), { "192.0.2.10": 2379, "192.0.2.11": 2380, "192.0.2.13": 2380 });
  });

  it("takes no more than maxRemovalsPerRun out of the Endpoints in the run after a failed Endpoints write", async () => {
    const endpointsReady = async () =>
      ((await cluster.admin.core.readNamespacedEndpoints({ namespace: NAMESPACE, name: "db" })).subsets ?? []).flatMap((subset) => (subset.addresses ?? []).map((address) => address.ip)).sort();
    assert.equal((await sync(dbTarget(["192.0.2.20", "192.0.2.21", "192.0.2.22", "192.0.2.23"]))).ok, true);

    // .20 leaves the source: the slice lets it go, the Endpoints write fails.
    proxy.plan({ unavailableFor: /\/endpoints\/db(\?|$)/ });
    assert.equal((await sync(dbTarget(["192.0.2.21", "192.0.2.22", "192.0.2.23"]))).ok, false);
    proxy.plan({});
    assert.deepEqual(await endpointsReady(), ["192.0.2.20", "192.0.2.21", "192.0.2.22", "192.0.2.23"]);

    // .21 leaves too: one removal as the slices count it, two for the Endpoints.
    assert.equal((await sync(dbTarget(["192.0.2.22", "192.0.2.23"]))).ok, true);
    const ready = await endpointsReady();
    assert.ok(ready.length >= 3, `the Endpoints went from 4 ready to ${ready.join(", ")} in one run, maxRemovalsPerRun 1`);
  });
});
