// Who may change what, against a real API server: everything written names its installation and cluster
// entry, so two installations that keep one owner id, and two cluster entries that reach one API server,
// never prune or overwrite each other's objects; a Service both claim is reported, not fought over. A prune
// that would delete every object of an installation waits for allowPruneAll. A Service that changes under us
// (a selector added, made ExternalName, ports renamed) is handled by the documented rule, with a Warning Event.
// Backends are documentation addresses under `check: none`: nothing is probed.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { V1Service } from "@kubernetes/client-node";
import { runSync } from "../../functions/engine/run.ts";
import { ClusterConnections } from "../../functions/kube/client.ts";
import { memoryName } from "../../functions/registry/remembered.ts";
import type { RunReport } from "../../functions/report/report.ts";
import { selectorlessService, startTestCluster, testConfig, type TestCluster } from "../harness/cluster.ts";

const NAMESPACE = "ees-own";
let cluster: TestCluster;

before(async () => {
  cluster = await startTestCluster([NAMESPACE]);
});

after(async () => {
  await cluster?.stop();
});

function target(service: string, clusterEntry = "test", address = "192.0.2.10") {
  return {
    name: `${clusterEntry}-${service}`,
    cluster: clusterEntry,
    namespace: NAMESPACE,
    service,
    ports: [{ name: "http", port: 80 }],
    sources: [{ static: [{ address }] }],
    check: { none: {} },
  };
}

async function sync(targets: Record<string, unknown>[], options: { installation?: string; entries?: string[]; extra?: Record<string, unknown> } = {}): Promise<RunReport> {
  const entries = options.entries ?? ["test"];
  const config = testConfig({ clusters: entries.map((name) => ({ name, kubeconfig: cluster.kubeconfig })), targets, ...options.extra });
  await cluster.grant(config);
  return runSync(config, new ClusterConnections(config.clusters), { installation: options.installation ?? "ees-prod" });
}

async function createService(name: string, spec: Partial<NonNullable<V1Service["spec"]>> = {}) {
  const body = selectorlessService(NAMESPACE, name, [{ name: "http", port: 80 }]);
  await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: { ...body, spec: { ...body.spec, ...spec } } });
}

/** Every object we write for a Service, with its resourceVersion: what must survive another writer's runs. */
async function objectsOf(service: string): Promise<Record<string, string>> {
  const [slices, endpoints, memory] = await Promise.all([
    cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: `kubernetes.io/service-name=${service}` }),
    cluster.admin.core.readNamespacedEndpoints({ namespace: NAMESPACE, name: service }).catch(() => undefined),
    cluster.admin.core.readNamespacedConfigMap({ namespace: NAMESPACE, name: memoryName(service) }).catch(() => undefined),
  ]);
  return Object.fromEntries([
    ...slices.items.map((slice) => [`EndpointSlice ${slice.metadata!.name}`, slice.metadata!.resourceVersion!]),
    ...(endpoints ? [[`Endpoints ${service}`, endpoints.metadata!.resourceVersion!]] : []),
    ...(memory ? [[`ConfigMap ${memory.metadata!.name}`, memory.metadata!.resourceVersion!]] : []),
  ]);
}

async function warnings(service: string): Promise<string[]> {
  const list = await cluster.admin.core.listNamespacedEvent({ namespace: NAMESPACE, fieldSelector: `involvedObject.kind=Service,involvedObject.name=${service}` });
  // Ours only: the API server raises Warnings of its own on a Service whose type changed (ClusterIPNotAllocated).
  return list.items.filter((event) => event.type === "Warning" && event.reportingComponent === "external-endpoint-syncer").map((event) => `${event.reason}: ${event.message}`);
}

describe("installations and cluster entries", () => {
  it("labels what it writes with the owner id, the installation and the cluster entry", async () => {
    await createService("labelled");
    await sync([target("labelled")]);
    const slice = (await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: "kubernetes.io/service-name=labelled" })).items[0]!;
    const endpoints = await cluster.admin.core.readNamespacedEndpoints({ namespace: NAMESPACE, name: "labelled" });
    const memory = await cluster.admin.core.readNamespacedConfigMap({ namespace: NAMESPACE, name: memoryName("labelled") });
    for (const labels of [slice.metadata?.labels, endpoints.metadata?.labels, memory.metadata?.labels]) {
      assert.equal(labels?.["app.kubernetes.io/managed-by"], "external-endpoint-syncer");
      assert.equal(labels?.["external-endpoint-syncer/owner"], "default");
      assert.equal(labels?.["external-endpoint-syncer/installation"], "ees-prod");
      assert.equal(labels?.["external-endpoint-syncer/cluster"], "test");
    }
  });

  it("two installations keeping the default owner id never prune each other, and the Service both claim is reported, not fought over", async () => {
    await createService("dev-svc");
    await createService("prod-svc");
    await sync([target("dev-svc")], { installation: "ees-dev" });
    await sync([target("prod-svc")], { installation: "ees-prod" });
    const dev = await objectsOf("dev-svc");
    const prod = await objectsOf("prod-svc");
    assert.equal(Object.keys(dev).length, 3, JSON.stringify(dev));
    assert.equal(Object.keys(prod).length, 3, JSON.stringify(prod));

    // Each one's prune runs over a cluster holding the other's objects.
    for (const installation of ["ees-dev", "ees-prod", "ees-dev"]) {
      const report = await sync([target(installation === "ees-dev" ? "dev-svc" : "prod-svc")], { installation });
      assert.deepEqual(report.pruned.flatMap((prune) => prune.changes), [], installation);
    }
    assert.deepEqual(await objectsOf("dev-svc"), dev);
    assert.deepEqual(await objectsOf("prod-svc"), prod);

    // The dev stage now also names prod's Service: it leaves prod's objects alone and says why.
    const claimed = await sync([target("dev-svc"), target("prod-svc", "test", "192.0.2.99")], { installation: "ees-dev" });
    const conflict = claimed.targets.find((result) => result.service === "prod-svc")!;
    assert.equal(conflict.status, "failed");
    assert.match(conflict.error ?? "", /synced by another writer: .*installation ees-prod, cluster entry test, owner id default/);
    assert.equal(conflict.writes, 0);
    assert.deepEqual(await objectsOf("prod-svc"), prod);
    assert.deepEqual((await warnings("prod-svc")).map((message) => message.split(":")[0]), ["OwnershipConflict"]);
  });

  it("two cluster entries reaching one API server never prune each other, and a Service both name is reported", async () => {
    await createService("entry-one");
    await createService("entry-two");
    const both = { entries: ["one", "two"] };
    await sync([target("entry-one", "one"), target("entry-two", "two")], both);
    const one = await objectsOf("entry-one");
    const two = await objectsOf("entry-two");
    const again = await sync([target("entry-one", "one"), target("entry-two", "two")], both);
    assert.deepEqual(again.pruned.flatMap((prune) => prune.changes), []);
    assert.deepEqual(await objectsOf("entry-one"), one);
    assert.deepEqual(await objectsOf("entry-two"), two);

    const twice = await sync([target("entry-one", "one"), target("entry-two", "two"), target("entry-one", "two", "192.0.2.99")], both);
    const conflict = twice.targets.find((result) => result.target === "two-entry-one")!;
    assert.equal(conflict.status, "failed");
    assert.match(conflict.error ?? "", /cluster entry one/);
    assert.deepEqual(await objectsOf("entry-one"), one);
  });

  it("takes over what an earlier version wrote (our owner id, no installation label), relabelling it", async () => {
    await createService("upgraded");
    await sync([target("upgraded")]);
    const slice = (await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: "kubernetes.io/service-name=upgraded" })).items[0]!;
    const { "external-endpoint-syncer/installation": _installation, "external-endpoint-syncer/cluster": _cluster, ...legacy } = slice.metadata!.labels!;
    await cluster.admin.discovery.replaceNamespacedEndpointSlice({ namespace: NAMESPACE, name: slice.metadata!.name!, body: { ...slice, metadata: { ...slice.metadata, labels: legacy } } });

    const report = await sync([target("upgraded")]);
    assert.equal(report.targets[0]!.status, "synced");
    const relabelled = await cluster.admin.discovery.readNamespacedEndpointSlice({ namespace: NAMESPACE, name: slice.metadata!.name! });
    assert.equal(relabelled.metadata?.labels?.["external-endpoint-syncer/installation"], "ees-prod");
  });
});

describe("the prune guard", () => {
  it("deletes nothing when targets: [] would take every object of the installation, until allowPruneAll", async () => {
    await createService("only");
    const installation = "ees-lonely";
    await sync([target("only")], { installation });
    const objects = await objectsOf("only");

    const mark = await cluster.auditMark();
    const held = await sync([], { installation });
    assert.match(held.pruned[0]!.guard ?? "", /would delete all 2 objects this installation has here \(of 1 Services no target names\): deleted nothing; set allowPruneAll: true/);
    assert.deepEqual(held.pruned[0]!.changes, []);
    assert.deepEqual(await cluster.syncerWritesSince(mark), []);
    assert.deepEqual(await objectsOf("only"), objects);

    const allowed = await sync([], { installation, extra: { allowPruneAll: true } });
    assert.deepEqual(allowed.pruned[0]!.changes.map((change) => `${change.action} ${change.kind}`).sort(), ["delete ConfigMap", "delete EndpointSlice", "delete Endpoints"]);
    assert.deepEqual(await objectsOf("only"), {});
  });
});

describe("a Service that changes under us", () => {
  for (const [change, spec, reason] of [
    ["gains a selector", { selector: { app: "web" } }, /has a selector \(app=web\)/],
    ["is made ExternalName", { type: "ExternalName", externalName: "web.example.com", ports: undefined }, /is of type ExternalName/],
  ] as const) {
    it(`${change}: our slices and Endpoints for it are deleted, with a Warning Event; the memory stays`, async () => {
      const name = change.startsWith("gains") ? "gains-selector" : "external-name";
      await createService(name);
      await sync([target(name)]);
      const service = await cluster.admin.core.readNamespacedService({ namespace: NAMESPACE, name });
      await cluster.admin.core.replaceNamespacedService({ namespace: NAMESPACE, name, body: { ...service, spec: { ...service.spec, ...spec } } });

      const report = await sync([target(name)]);
      const result = report.targets[0]!;
      assert.equal(result.status, "failed");
      assert.match(result.error ?? "", reason);
      assert.deepEqual(result.changes.map((item) => `${item.action} ${item.kind}`).sort(), ["delete EndpointSlice", "delete Endpoints"]);
      assert.deepEqual(Object.keys(await objectsOf(name)), [`ConfigMap ${memoryName(name)}`]);
      const [warning, ...more] = await warnings(name);
      assert.match(warning ?? "", /^ServiceChanged: .*: deleting our 2 objects for it$/);
      assert.deepEqual(more, []);

      const mark = await cluster.auditMark();
      assert.equal((await sync([target(name)])).targets[0]!.status, "failed");
      assert.deepEqual(await cluster.syncerWritesSince(mark), [], "nothing left to remove, no second Event");
    });
  }

  it("has its ports renamed: what we published stays as it is, the target fails, and a Warning Event says why", async () => {
    await createService("renamed");
    await sync([target("renamed")]);
    const before = await objectsOf("renamed");
    const service = await cluster.admin.core.readNamespacedService({ namespace: NAMESPACE, name: "renamed" });
    await cluster.admin.core.replaceNamespacedService({ namespace: NAMESPACE, name: "renamed", body: { ...service, spec: { ...service.spec, ports: [{ name: "web", port: 80, protocol: "TCP" }] } } });

    const result = (await sync([target("renamed")])).targets[0]!;
    assert.equal(result.status, "failed");
    assert.match(result.error ?? "", /has no port named "http" \(its ports: "web"\)/);
    assert.deepEqual(await objectsOf("renamed"), before);
    assert.match((await warnings("renamed"))[0] ?? "", /^ServicePortsMismatch: .*left as they are until the config and the Service agree$/);
  });
});
