// The fake API server's contract: the same calls against a real kube-apiserver and against
// test/harness/fake-kube.ts give the same answers (codes, reasons, messages, shapes), so the unit tests that
// run the engine on the fake test what a real cluster would do. uids, resourceVersions and generated names
// differ by nature: the transcript notes how they change, not their values.
//
// Cases: create, create again (409 AlreadyExists), read, read a missing object (404), replace with the
// current, a stale and another uid (409 Conflict), replace of a missing object, create with a
// resourceVersion, label selectors (=, !=, exists, not exists), list items' kind, Endpoints' omitted empty
// fields, delete with failing uid and resourceVersion preconditions (409), delete of a missing object
// (404), an Event with generateName listed by field selector, and KubeApiError's messages over all of it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { KubeClients } from "../../functions/kube/client.ts";
import { ApiException } from "../../functions/kube/client-node.ts";
import { KubeApiError } from "../../functions/kube/errors.ts";
import { FakeKube } from "../harness/fake-kube.ts";
import { startTestCluster, type TestCluster } from "../harness/cluster.ts";

const NAMESPACE = "ees-fake-contract";

let cluster: TestCluster;

before(async () => {
  cluster = await startTestCluster([NAMESPACE]);
});

after(async () => {
  await cluster?.stop();
});

/** What a call answered, comparable across servers: the code, the Status reason and KubeApiError's message. */
async function outcome<T>(action: string, call: () => Promise<T>, describe: (value: T) => unknown = () => "ok"): Promise<unknown> {
  try {
    return describe(await call());
  } catch (error) {
    if (!(error instanceof ApiException)) throw error;
    const status = JSON.parse(error.body as string) as { kind?: string; reason?: string; code?: number };
    return { code: error.code, kind: status.kind, reason: status.reason, statusCode: status.code, message: withoutIds(new KubeApiError(action, error).message) };
  }
}

/** uids and resourceVersions in messages: their values are each server's own. */
const withoutIds = (message: string) => message.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<uid>").replace(/(?<!HTTP )\b\d{3,}\b/g, "<n>");

/** Every call the syncer makes, in the ways it can go wrong. */
async function transcript({ core, discovery }: KubeClients): Promise<unknown[]> {
  const namespace = NAMESPACE;
  const labels = { app: "db", tier: "data" };
  const slice = (name: string, extra: Record<string, unknown> = {}) => ({
    metadata: { name, namespace, labels, ...extra },
    addressType: "IPv4",
    endpoints: [{ addresses: ["192.0.2.10"] }],
    ports: [{ name: "", port: 5432, protocol: "TCP" }],
  });
  const steps: unknown[] = [];
  const record = (step: string, value: unknown) => steps.push({ step, value });

  const created = await discovery.createNamespacedEndpointSlice({ namespace, body: slice("a") });
  record("create", {
    kind: created.kind,
    apiVersion: created.apiVersion,
    uid: typeof created.metadata?.uid,
    resourceVersion: typeof created.metadata?.resourceVersion,
    creationTimestamp: created.metadata?.creationTimestamp instanceof Date,
    ports: created.ports,
  });
  record("create again", await outcome("create EndpointSlice a", () => discovery.createNamespacedEndpointSlice({ namespace, body: slice("a") })));
  record("create with a resourceVersion", await outcome("create EndpointSlice b", () => discovery.createNamespacedEndpointSlice({ namespace, body: slice("b", { resourceVersion: "5" }) })));
  record("read", await outcome("get EndpointSlice a", () => discovery.readNamespacedEndpointSlice({ namespace, name: "a" }), (read) => ({ kind: read.kind, same: read.metadata?.uid === created.metadata?.uid })));
  record("read missing", await outcome("get EndpointSlice nope", () => discovery.readNamespacedEndpointSlice({ namespace, name: "nope" })));

  const first = created.metadata!;
  const changed = (resourceVersion: string | undefined, address: string, uid?: string) => ({
    ...slice("a"),
    metadata: { ...slice("a").metadata, resourceVersion, uid },
    endpoints: [{ addresses: [address] }],
  });
  const unchanged = await discovery.replaceNamespacedEndpointSlice({ namespace, name: "a", body: { ...slice("a"), metadata: { ...slice("a").metadata, resourceVersion: first.resourceVersion } } });
  record("replace with the same content", { newVersion: unchanged.metadata?.resourceVersion !== first.resourceVersion });
  const replaced = await discovery.replaceNamespacedEndpointSlice({ namespace, name: "a", body: changed(first.resourceVersion, "192.0.2.11") });
  record("replace", { newVersion: replaced.metadata?.resourceVersion !== first.resourceVersion, sameUid: replaced.metadata?.uid === first.uid });
  record("replace stale", await outcome("update EndpointSlice a", () => discovery.replaceNamespacedEndpointSlice({ namespace, name: "a", body: changed(first.resourceVersion, "192.0.2.12") })));
  record("replace another uid", await outcome("update EndpointSlice a", () => discovery.replaceNamespacedEndpointSlice({ namespace, name: "a", body: changed(undefined, "192.0.2.12", "6f9619ff-8b86-d011-b42d-00c04fc964ff") })));
  record("replace with no resourceVersion", await outcome("update EndpointSlice a", () => discovery.replaceNamespacedEndpointSlice({ namespace, name: "a", body: changed(undefined, "192.0.2.13") }), (read) => (read.endpoints ?? []).map((entry) => entry.addresses[0])));
  record("replace missing", await outcome("update EndpointSlice nope", () => discovery.replaceNamespacedEndpointSlice({ namespace, name: "nope", body: slice("nope") })));
  record("replace missing Endpoints", await outcome("update Endpoints nope", () => core.replaceNamespacedEndpoints({ namespace, name: "nope", body: { metadata: { name: "nope", namespace } } })));
  record("replace missing ConfigMap", await outcome("update ConfigMap nope", () => core.replaceNamespacedConfigMap({ namespace, name: "nope", body: { metadata: { name: "nope", namespace } } })));

  await discovery.createNamespacedEndpointSlice({ namespace, body: slice("c", { labels: { app: "db", tier: "cache" } }) });
  await discovery.createNamespacedEndpointSlice({ namespace, body: slice("d", { labels: { app: "web" } }) });
  for (const labelSelector of ["app=db,tier=data", "app==db", "app=db,tier!=data", "tier", "!tier,app"]) {
    record(`list ${labelSelector}`, await outcome("list", () => discovery.listNamespacedEndpointSlice({ namespace, labelSelector }), (list) => ({ kind: list.kind, names: list.items.map((item) => item.metadata?.name), itemKinds: list.items.map((item) => item.kind) })));
  }
  record("list all namespaces", await outcome("list", () => discovery.listEndpointSliceForAllNamespaces({ labelSelector: "app=db" }), (list) => list.items.map((item) => `${item.metadata?.namespace}/${item.metadata?.name}`)));

  const endpoints = await core.createNamespacedEndpoints({
    namespace,
    body: { metadata: { name: "e", namespace, labels: { "endpointslice.kubernetes.io/skip-mirror": "true" } }, subsets: [] },
  });
  record("Endpoints with no subsets", { subsets: endpoints.subsets });
  const withPorts = await core.replaceNamespacedEndpoints({
    namespace,
    name: "e",
    body: { ...endpoints, subsets: [{ addresses: [{ ip: "192.0.2.10" }], ports: [{ name: "", port: 5432, protocol: "TCP" }] }] },
  });
  record("Endpoints with an unnamed port", { ports: withPorts.subsets?.[0]?.ports });
  record("list Endpoints", await outcome("list", () => core.listEndpointsForAllNamespaces({ labelSelector: "endpointslice.kubernetes.io/skip-mirror=true" }), (list) => ({ kind: list.kind, names: list.items.map((item) => item.metadata?.name) })));

  const current = await discovery.readNamespacedEndpointSlice({ namespace, name: "a" });
  record("delete, another uid", await outcome("delete EndpointSlice a", () => discovery.deleteNamespacedEndpointSlice({ namespace, name: "a", body: { preconditions: { uid: "6f9619ff-8b86-d011-b42d-00c04fc964ff" } } })));
  record("delete, stale resourceVersion", await outcome("delete EndpointSlice a", () => discovery.deleteNamespacedEndpointSlice({ namespace, name: "a", body: { preconditions: { resourceVersion: first.resourceVersion } } })));
  record("delete", await outcome("delete EndpointSlice a", () => discovery.deleteNamespacedEndpointSlice({ namespace, name: "a", body: { preconditions: { uid: current.metadata?.uid, resourceVersion: current.metadata?.resourceVersion } } }), (status) => ({ kind: status.kind, status: status.status })));
  record("delete again", await outcome("delete EndpointSlice a", () => discovery.deleteNamespacedEndpointSlice({ namespace, name: "a" })));

  const configMap = await core.createNamespacedConfigMap({ namespace, body: { metadata: { name: "m", namespace }, binaryData: { "memory.json.gz": Buffer.from("hi").toString("base64") } } });
  record("ConfigMap", { kind: configMap.kind, binaryData: configMap.binaryData });
  record("read ConfigMap missing", await outcome("get ConfigMap nope", () => core.readNamespacedConfigMap({ namespace, name: "nope" })));
  record("delete ConfigMap", await outcome("delete ConfigMap m", () => core.deleteNamespacedConfigMap({ namespace, name: "m" }), (status) => status.status));

  const service = await core.createNamespacedService({ namespace, body: { metadata: { name: "s", namespace }, spec: { ports: [{ name: "pg", port: 5432 }] } } });
  record("read Service missing", await outcome("get Service nope", () => core.readNamespacedService({ namespace, name: "nope" })));
  const event = await core.createNamespacedEvent({
    namespace,
    body: {
      metadata: { generateName: "s.", namespace },
      involvedObject: { apiVersion: "v1", kind: "Service", name: "s", namespace, uid: service.metadata?.uid },
      type: "Warning",
      reason: "Test",
      message: "a test event",
      firstTimestamp: new Date(),
      lastTimestamp: new Date(),
      count: 1,
    },
  });
  record("Event", { generated: event.metadata?.name?.startsWith("s.") && event.metadata.name.length > 2, firstTimestamp: event.firstTimestamp instanceof Date });
  record("list Events", await outcome("list", () => core.listNamespacedEvent({ namespace, fieldSelector: "involvedObject.kind=Service,involvedObject.name=s" }), (list) => list.items.map((item) => item.reason)));
  record("list Events of another", await outcome("list", () => core.listNamespacedEvent({ namespace, fieldSelector: "involvedObject.name=t" }), (list) => list.items.length));
  record("delete Service", await outcome("delete Service s", () => core.deleteNamespacedService({ namespace, name: "s" }), (deleted) => ({ kind: deleted.kind, name: deleted.metadata?.name })));
  return steps;
}

describe("the fake API server answers as a real kube-apiserver does", () => {
  it("the same calls give the same transcript", async () => {
    const real = await transcript(cluster.admin);
    if (process.env.EES_PRINT_TRANSCRIPT) console.log(JSON.stringify(real, null, 1));
    const fake = await transcript(new FakeKube().clients());

    assert.deepEqual(fake, real);
  });
});
