// What an operator sees in the cluster: an Event on the Service when its endpoints change (and none when
// nothing did), a SyncFailed Warning when a target starts failing (and none while it repeats), and the status
// stamp on our EndpointSlice that `kubectl describe` shows.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestNetwork, type BackendFleet, type TestNetwork } from "../../infra/netns/test-network.ts";
import { runSync } from "../../functions/engine/run.ts";
import { ClusterConnections } from "../../functions/kube/client.ts";
import { ENDPOINT_COUNTS, LAST_SYNC } from "../../functions/plan/status.ts";
import { MANAGER } from "../../functions/registry/labels.ts";
import { selectorlessService, startTestCluster, testConfig, type TestCluster } from "../harness/cluster.ts";

const NAMESPACE = "ees-obs";
const BACKEND = "198.18.60.2";
let cluster: TestCluster;
let network: TestNetwork;
let fleet: BackendFleet;

before(async () => {
  cluster = await startTestCluster([NAMESPACE]);
  await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, "api", [{ name: "https", port: 443 }]) });
  await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, "web", [{ name: "http", port: 8080 }]) });
  await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, "db", [{ name: "https", port: 443 }]) });
  network = await createTestNetwork({ name: "ees-obs", subnetIndex: 60 });
  await network.addAddresses([BACKEND]);
  fleet = await network.startBackends();
});
after(async () => {
  await fleet?.stop();
  await network?.destroy();
  await cluster?.stop();
});

// Never probed (check: none): the addresses only have to be valid.
const sync = async (addresses: string[]) => {
  const config = testConfig({
    clusters: [{ name: "test", kubeconfig: cluster.kubeconfig }],
    targets: [{ name: "api", cluster: "test", namespace: NAMESPACE, service: "api", ports: [{ name: "https", port: 443 }], sources: [{ static: addresses.map((address) => ({ address })) }], check: { none: {} } }],
  });
  await cluster.grant(config);
  return runSync(config, new ClusterConnections(config.clusters));
};

/** Ours alone: the API server's own (its cluster IP repair loop's ClusterIPNotAllocated, say) come and go. */
async function serviceEvents(service = "api") {
  const list = await cluster.admin.core.listNamespacedEvent({ namespace: NAMESPACE, fieldSelector: `involvedObject.kind=Service,involvedObject.name=${service}` });
  return list.items.filter((event) => event.reportingComponent === MANAGER);
}

describe("events and status", () => {
  it("records an Event on the Service when endpoints change, and none when nothing changed", async () => {
    const first = await sync(["192.0.2.31", "192.0.2.32"]);
    assert.equal(first.ok, true, first.targets[0]!.error);
    const events = await serviceEvents();
    assert.deepEqual(events.map((event) => [event.type, event.reason, event.message]), [["Normal", "EndpointsChanged", "2 ready, 0 not ready: 192.0.2.31 added, 192.0.2.32 added"]]);
    assert.equal(events[0]!.involvedObject.uid, (await cluster.admin.core.readNamespacedService({ namespace: NAMESPACE, name: "api" })).metadata?.uid);

    const mark = await cluster.auditMark();
    await sync(["192.0.2.31", "192.0.2.32"]);
    assert.equal((await serviceEvents()).length, 1, "no Event for a sync that changed nothing");
    assert.deepEqual(await cluster.syncerWritesSince(mark), []);

    await sync(["192.0.2.31"]);
    const messages = (await serviceEvents()).map((event) => event.message).sort();
    assert.deepEqual(messages, ["1 ready, 0 not ready: 192.0.2.32 removed", "2 ready, 0 not ready: 192.0.2.31 added, 192.0.2.32 added"]);
  });

  it("records a SyncFailed Warning when a target starts failing, and nothing, Event or write, while it fails the same way", async () => {
    const config = testConfig({
      clusters: [{ name: "test", kubeconfig: cluster.kubeconfig }],
      targets: [
        { name: "db", cluster: "test", namespace: NAMESPACE, service: "db", ports: [{ name: "https", port: 443 }], sources: [{ static: [{ address: "192.0.2.41" }] }], check: { https: { caFile: "/nonexistent/ees-obs-ca.pem" } } },
      ],
    });
    await cluster.grant(config);
    const run = () => runSync(config, new ClusterConnections(config.clusters));

    const first = await run();
    assert.equal(first.targets[0]!.status, "failed");
    assert.match(first.targets[0]!.error ?? "", /ees-obs-ca\.pem/);
    assert.deepEqual(first.targets[0]!.warnings, []);
    const events = await serviceEvents("db");
    assert.deepEqual(events.map((event) => [event.type, event.reason, event.message]), [["Warning", "SyncFailed", first.targets[0]!.error]]);

    const mark = await cluster.auditMark();
    const again = await run();
    assert.equal(again.targets[0]!.status, "failed");
    assert.equal((await serviceEvents("db")).length, 1, "no second Event for the same failure");
    assert.deepEqual(await cluster.syncerWritesSince(mark), []);
  });

  it("stamps the last sync time and the counts on our EndpointSlice", async () => {
    const before = Date.now();
    await sync(["192.0.2.31", "192.0.2.33"]);
    const slices = await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: "kubernetes.io/service-name=api" });
    const annotations = slices.items[0]?.metadata?.annotations ?? {};
    assert.equal(annotations[ENDPOINT_COUNTS], "2 ready, 0 not ready");
    assert.ok(Date.parse(annotations[LAST_SYNC] ?? "") >= before - 1000, annotations[LAST_SYNC]);
  });

  it("records a Warning when a guard starts holding back the endpoints and a Normal Event when it stops, not every run", async () => {
    const config = testConfig({
      clusters: [{ name: "test", kubeconfig: cluster.kubeconfig }],
      targets: [
        { name: "web", cluster: "test", namespace: NAMESPACE, service: "web", ports: [{ name: "http", port: 8080 }], sources: [{ static: [{ address: BACKEND }] }], check: { tcp: {} }, rise: 1, fall: 1 },
      ],
    });
    await cluster.grant(config);
    const run = () => runSync(config, new ClusterConnections(config.clusters));
    const guardEvents = async () => (await serviceEvents("web")).filter((event) => event.reason !== "EndpointsChanged").map((event) => `${event.type} ${event.reason}`);

    await fleet.listen(BACKEND, 8080, { kind: "tcp" });
    await run();
    await fleet.close(BACKEND, 8080);
    const down = await run();
    assert.deepEqual(down.targets[0]!.guards.map((trip) => trip.guard), ["neverEmpty"]);
    assert.deepEqual(await guardEvents(), ["Warning GuardTripped"]);
    await run();
    assert.deepEqual(await guardEvents(), ["Warning GuardTripped"], "no second Event while the guard stays tripped");

    await fleet.listen(BACKEND, 8080, { kind: "tcp" });
    await run();
    assert.deepEqual((await guardEvents()).sort(), ["Normal GuardsCleared", "Warning GuardTripped"]);
  });
});
