// The core sync path against a real kube-apiserver, etcd and kube-controller-manager, with real HTTP
// backends in a network namespace. The syncer runs under exactly the RBAC `external-endpoint-syncer rbac` derives.
//
// Cases: create; no-op resync makes zero writes (read from the API server's audit log); update on a health
// change; >1000 endpoints split; IPv4 and IPv6 families; selector Service refused; missing Service reported
// or created; foreign Endpoints left alone; adopt; prune under sync and not under upsert-only; dry run writes
// nothing; a 409 is re-read and retried; no mirrored duplicates; Service deletion removes our objects;
// refused addresses never sent; one failing target does not stop the others; a Service someone else created
// with a selector while we probed is refused too; a write the API server refuses
// fails the target, and the writes made beside it are counted as the audit log saw them.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { AdmissionregistrationV1Api, KubeConfig, type V1EndpointSlice } from "@kubernetes/client-node";
import { createTestNetwork, type BackendFleet, type TestNetwork } from "../../infra/netns/test-network.ts";
import { runSync } from "../../functions/engine/run.ts";
import { applyChanges } from "../../functions/kube/apply.ts";
import { ClusterConnections } from "../../functions/kube/client.ts";
import { readTargetState } from "../../functions/kube/read.ts";
import { planTarget } from "../../functions/plan/plan.ts";
import { publishedEndpoints } from "../../functions/registry/published.ts";
import { eventually, selectorlessService, startTestCluster, testConfig, type TestCluster } from "../harness/cluster.ts";

const NAMESPACE = "ees-it";
const BACKENDS = ["198.18.20.2", "198.18.20.3", "198.18.20.4"];
const BACKEND6 = "fd00:198:18:20::2";
const PORT = 8080;

let cluster: TestCluster;
let network: TestNetwork;
let fleet: BackendFleet;

before(async () => {
  cluster = await startTestCluster([NAMESPACE]);
  network = await createTestNetwork({ name: "ees-it", subnetIndex: 20 });
  await network.addAddresses([...BACKENDS, BACKEND6]);
  fleet = await network.startBackends();
  for (const address of [...BACKENDS, BACKEND6]) await fleet.listen(address, PORT);
});

after(async () => {
  await fleet?.stop();
  await network?.destroy();
  await cluster?.stop();
});

function target(service: string, overrides: Record<string, unknown> = {}) {
  return {
    name: service,
    cluster: "test",
    namespace: NAMESPACE,
    service,
    ports: [{ name: "http", port: PORT }],
    sources: [{ name: "vms", static: BACKENDS.map((address) => ({ address })) }],
    check: { http: { path: "/healthz", timeoutMs: 2000 } },
    // Each run's verdict takes effect at once here; rise/fall across runs has its own tests (health-*.test.ts).
    rise: 1,
    fall: 1,
    ...overrides,
  };
}

function config(targets: Record<string, unknown>[], extra: Record<string, unknown> = {}) {
  return testConfig({ clusters: [{ name: "test", kubeconfig: cluster.kubeconfig }], targets, ...extra });
}

async function sync(targets: Record<string, unknown>[], options: { dryRun?: boolean; extra?: Record<string, unknown> } = {}) {
  const parsed = config(targets, options.extra);
  await cluster.grant(parsed);
  return runSync(parsed, new ClusterConnections(parsed.clusters), { dryRun: options.dryRun });
}

async function createService(name: string, selector?: Record<string, string>) {
  const body = selectorlessService(NAMESPACE, name, [{ name: "http", port: PORT }]);
  if (selector) body.spec!.selector = selector;
  return cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body });
}

async function slicesOf(service: string): Promise<V1EndpointSlice[]> {
  const list = await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: `kubernetes.io/service-name=${service}` });
  return list.items;
}

/** client-node returns class instances; compare their data. */
const plain = (value: unknown) => JSON.parse(JSON.stringify(value ?? null)) as unknown;

function readiness(slices: V1EndpointSlice[]): Record<string, boolean | undefined> {
  return Object.fromEntries(slices.flatMap((slice) => (slice.endpoints ?? []).map((endpoint) => [endpoint.addresses[0], endpoint.conditions?.ready])));
}

describe("core sync against a real API server", () => {
  it("creates labelled EndpointSlices and Endpoints, then a resync with nothing changed makes zero writes", async () => {
    const service = await createService("web");
    const first = await sync([target("web")]);
    assert.equal(first.ok, true, JSON.stringify(first.targets[0]?.error));
    assert.equal(first.targets[0]!.status, "synced");

    const slices = await slicesOf("web");
    assert.equal(slices.length, 1);
    const slice = slices[0]!;
    assert.equal(slice.addressType, "IPv4");
    assert.deepEqual(slice.metadata?.labels, {
      "app.kubernetes.io/managed-by": "external-endpoint-syncer",
      "endpointslice.kubernetes.io/managed-by": "external-endpoint-syncer",
      "external-endpoint-syncer/owner": "default",
      "external-endpoint-syncer/installation": "default",
      "external-endpoint-syncer/cluster": "test",
      "kubernetes.io/service-name": "web",
    });
    assert.equal(slice.metadata?.ownerReferences?.[0]?.uid, service.metadata?.uid);
    assert.deepEqual(plain(slice.ports), [{ name: "http", port: PORT, protocol: "TCP" }]);
    assert.deepEqual(readiness(slices), { "198.18.20.2": true, "198.18.20.3": true, "198.18.20.4": true });

    const endpoints = await cluster.admin.core.readNamespacedEndpoints({ namespace: NAMESPACE, name: "web" });
    assert.equal(endpoints.metadata?.labels?.["endpointslice.kubernetes.io/skip-mirror"], "true");
    assert.equal(endpoints.metadata?.labels?.["app.kubernetes.io/managed-by"], "external-endpoint-syncer");
    assert.deepEqual(endpoints.subsets?.[0]?.addresses?.map((address) => address.ip), BACKENDS);

    const mark = await cluster.auditMark();
    const second = await sync([target("web")]);
    assert.equal(second.targets[0]!.status, "unchanged");
    assert.equal(second.targets[0]!.writes, 0);
    assert.deepEqual(await cluster.syncerWritesSince(mark), [], "the API server saw no write from the syncer");
  });

  it("marks a backend that stops answering not ready and not serving, in slices and Endpoints", async () => {
    await createService("health");
    await sync([target("health")]);
    await fleet.setStatus(BACKENDS[1]!, PORT, 503);
    try {
      const report = await sync([target("health")]);
      const changes = report.targets[0]!.changes;
      assert.deepEqual(
        changes.map((change) => [change.kind, change.action, change.endpoints]),
        [
          ["EndpointSlice", "update", [{ address: BACKENDS[1], change: "notReady" }]],
          ["Endpoints", "update", [{ address: BACKENDS[1], change: "notReady" }]],
          // The backend's stored health record changed too (decide/hysteresis.ts).
          ["ConfigMap", "update", []],
        ],
      );
      const endpoint = (await slicesOf("health"))[0]!.endpoints!.find((item) => item.addresses[0] === BACKENDS[1]);
      assert.deepEqual(plain(endpoint?.conditions), { ready: false, serving: false, terminating: false });
      const endpoints = await cluster.admin.core.readNamespacedEndpoints({ namespace: NAMESPACE, name: "health" });
      assert.deepEqual(endpoints.subsets?.[0]?.notReadyAddresses?.map((address) => address.ip), [BACKENDS[1]]);
      assert.equal(report.targets[0]!.backends.find((backend) => backend.address === BACKENDS[1])?.reason, "StatusMismatch");
    } finally {
      await fleet.setStatus(BACKENDS[1]!, PORT, 200);
    }
    const healed = await sync([target("health")]);
    assert.deepEqual(healed.targets[0]!.changes.flatMap((change) => change.endpoints), [
      { address: BACKENDS[1], change: "ready" },
      { address: BACKENDS[1], change: "ready" },
    ]);
  });

  it("drops failing backends when the target says so", async () => {
    await createService("dropper");
    await fleet.close(BACKENDS[2]!, PORT);
    try {
      const report = await sync([target("dropper", { failing: "drop" })]);
      assert.deepEqual(report.targets[0]!.dropped, [BACKENDS[2]]);
      assert.deepEqual(Object.keys(readiness(await slicesOf("dropper"))).sort(), BACKENDS.slice(0, 2));
      assert.equal(report.targets[0]!.backends.find((backend) => backend.address === BACKENDS[2])?.reason, "ConnRefused");
    } finally {
      await fleet.listen(BACKENDS[2]!, PORT);
    }
  });

  it("splits more than 1000 endpoints into slices of at most 1000, and resyncs them with no writes", async () => {
    await createService("big");
    // Never probed (check: none): these addresses only have to be valid, not reachable.
    const addresses = Array.from({ length: 2500 }, (_, index) => `198.19.${Math.floor(index / 250)}.${(index % 250) + 1}`);
    const big = target("big", { sources: [{ static: addresses.map((address) => ({ address })) }], check: { none: {} } });
    const report = await sync([big]);
    assert.equal(report.ok, true, report.targets[0]!.error);
    const sizes = (await slicesOf("big")).map((slice) => slice.endpoints?.length).sort();
    assert.deepEqual(sizes, [1000, 1000, 500]);
    const mark = await cluster.auditMark();
    assert.equal((await sync([big])).targets[0]!.writes, 0);
    assert.deepEqual(await cluster.syncerWritesSince(mark), []);
  });

  it("keeps one slice set per address family", async () => {
    await createService("dual");
    const sources = [{ static: [{ address: BACKENDS[0] }, { address: BACKEND6, hostname: "v6-host" }] }];
    const report = await sync([target("dual", { sources })]);
    assert.equal(report.ok, true, report.targets[0]!.error);
    const slices = await slicesOf("dual");
    assert.deepEqual(slices.map((slice) => slice.addressType).sort(), ["IPv4", "IPv6"]);
    const v6 = slices.find((slice) => slice.addressType === "IPv6")!;
    assert.deepEqual(v6.endpoints?.map((endpoint) => [endpoint.addresses[0], endpoint.hostname, endpoint.conditions?.ready]), [[BACKEND6, "v6-host", true]]);
  });

  it("refuses a Service with a selector and writes nothing for it, while other targets go on", async () => {
    await createService("selected", { app: "web" });
    await createService("bystander");
    const report = await sync([target("selected"), target("bystander")]);
    assert.equal(report.ok, false);
    const [selected, bystander] = report.targets;
    assert.equal(selected!.status, "failed");
    assert.match(selected!.error!, /Service ees-it\/selected has a selector \(app=web\)/);
    assert.equal(bystander!.status, "synced");
    const ours = (await slicesOf("selected")).filter((slice) => slice.metadata?.labels?.["app.kubernetes.io/managed-by"] === "external-endpoint-syncer");
    assert.deepEqual(ours, []);
  });

  it("reports a missing Service, and creates it selector-less only when asked", async () => {
    const missing = await sync([target("absent")]);
    assert.equal(missing.targets[0]!.status, "failed");
    assert.match(missing.targets[0]!.error!, /Service ees-it\/absent not found/);
    assert.deepEqual(await slicesOf("absent"), []);

    const created = await sync([target("absent", { createService: true })]);
    assert.equal(created.ok, true, created.targets[0]!.error);
    assert.deepEqual(created.targets[0]!.changes.map((change) => `${change.action} ${change.kind}`), ["create Service", "create EndpointSlice", "create Endpoints", "create ConfigMap"]);
    const service = await cluster.admin.core.readNamespacedService({ namespace: NAMESPACE, name: "absent" });
    assert.equal(service.spec?.selector, undefined);
    assert.deepEqual(service.spec?.ports?.map((port) => [port.name, port.port, port.targetPort]), [["http", PORT, PORT]]);
    assert.equal((await slicesOf("absent"))[0]?.metadata?.ownerReferences?.[0]?.uid, service.metadata?.uid);
  });

  it("writes nothing for a Service with a selector that someone else created while the backends were probed", async () => {
    // A black-holed backend holds the probes for its connect timeout: the Service appears in that window.
    const dark = "198.18.20.20";
    await network.addAddresses([dark]);
    await network.blackhole([dark]);
    try {
      const sources = [{ static: [...BACKENDS, dark].map((address) => ({ address })) }];
      const running = sync([target("raced", { createService: true, sources, check: { tcp: { timeoutMs: 2000 } } })], { extra: { policy: "upsert-only" } });
      await new Promise((resolve) => setTimeout(resolve, 300));
      await createService("raced", { app: "someone-elses" });

      const report = (await running).targets[0]!;

      assert.equal(report.status, "failed");
      assert.match(report.error ?? "", /selector/);
      assert.deepEqual(await slicesOf("raced"), []);
    } finally {
      await network.unblackhole([dark]);
    }
  });

  it("leaves a hand-made Endpoints alone, and takes it over with adopt: true", async () => {
    await createService("legacy");
    const handMade = await cluster.admin.core.createNamespacedEndpoints({
      namespace: NAMESPACE,
      body: { metadata: { name: "legacy", namespace: NAMESPACE }, subsets: [{ addresses: [{ ip: "198.18.20.9" }], ports: [{ name: "http", port: PORT }] }] },
    });
    // The mirroring controller copies a hand-made Endpoints into a slice: proof that it runs here.
    const mirrored = await eventually(() => slicesOf("legacy"), (slices) => slices.length > 0);
    assert.equal(mirrored[0]?.metadata?.labels?.["endpointslice.kubernetes.io/managed-by"], "endpointslicemirroring-controller.k8s.io");

    const report = await sync([target("legacy")]);
    assert.deepEqual(report.targets[0]!.foreign.map((object) => object.kind).sort(), ["EndpointSlice", "Endpoints"]);
    const untouched = await cluster.admin.core.readNamespacedEndpoints({ namespace: NAMESPACE, name: "legacy" });
    assert.equal(untouched.metadata?.resourceVersion, handMade.metadata?.resourceVersion);

    const adopted = await sync([target("legacy", { adopt: true })]);
    assert.equal(adopted.ok, true, adopted.targets[0]!.error);
    const endpoints = await cluster.admin.core.readNamespacedEndpoints({ namespace: NAMESPACE, name: "legacy" });
    assert.equal(endpoints.metadata?.labels?.["app.kubernetes.io/managed-by"], "external-endpoint-syncer");
    assert.deepEqual(endpoints.subsets?.[0]?.addresses?.map((address) => address.ip), BACKENDS);
    // Now carrying skip-mirror, the Endpoints loses its mirrored slice: only ours remain.
    const slices = await eventually(() => slicesOf("legacy"), (items) => items.every((slice) => slice.metadata?.labels?.["app.kubernetes.io/managed-by"] === "external-endpoint-syncer"));
    assert.deepEqual(slices.map((slice) => slice.metadata?.labels?.["endpointslice.kubernetes.io/managed-by"]), ["external-endpoint-syncer"]);
  });

  it("gets no mirrored duplicates of its own Endpoints", async () => {
    await createService("nomirror");
    await sync([target("nomirror")]);
    // The mirroring controller acts within a second or two; give it five.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const managers = (await slicesOf("nomirror")).map((slice) => slice.metadata?.labels?.["endpointslice.kubernetes.io/managed-by"]);
    assert.deepEqual(managers, ["external-endpoint-syncer"]);
  });

  it("prunes what it wrote for a target that left the config under policy sync, and keeps it under upsert-only", async () => {
    await createService("stays");
    await createService("leaves");
    await sync([target("stays"), target("leaves")]);
    const upsert = await sync([target("stays")], { extra: { policy: "upsert-only" } });
    assert.deepEqual(upsert.pruned, []);
    assert.equal((await slicesOf("leaves")).length, 1);

    const pruning = await sync([target("stays")]);
    const deleted = pruning.pruned.flatMap((prune) => prune.changes.map((change) => `${change.kind} ${change.namespace}/${change.name}`));
    assert.ok(deleted.includes("EndpointSlice ees-it/leaves-ipv4-0"), deleted.join(", "));
    assert.ok(deleted.includes("Endpoints ees-it/leaves"), deleted.join(", "));
    assert.deepEqual(await slicesOf("leaves"), []);
    await assert.rejects(cluster.admin.core.readNamespacedEndpoints({ namespace: NAMESPACE, name: "leaves" }), { code: 404 });
    assert.equal((await slicesOf("stays")).length, 1);
  });

  it("writes nothing in a dry run, and says what it would do endpoint by endpoint", async () => {
    await createService("dry");
    const mark = await cluster.auditMark();
    const report = await sync([target("dry")], { dryRun: true });
    assert.equal(report.targets[0]!.status, "planned");
    assert.deepEqual(
      report.targets[0]!.changes.map((change) => [change.action, change.kind, change.endpoints.map((endpoint) => `${endpoint.change} ${endpoint.address}`)]),
      [
        ["create", "EndpointSlice", BACKENDS.map((address) => `added ${address}`)],
        ["create", "Endpoints", BACKENDS.map((address) => `added ${address}`)],
        ["create", "ConfigMap", []],
      ],
    );
    assert.deepEqual(await cluster.syncerWritesSince(mark), []);
    assert.deepEqual(await slicesOf("dry"), []);
  });

  it("re-reads and retries when another writer changed the object between plan and apply (409)", async () => {
    const service = await createService("race");
    await sync([target("race")]);
    const syncer = await new ClusterConnections([{ name: "test", kubeconfig: cluster.kubeconfig }]).get("test");
    const reading = readTargetState(syncer, NAMESPACE, "race");
    const state = { ...(await reading.early), ...(await reading.published) };
    const writer = { ownerId: "default", installation: "default", cluster: "test" };
    const serviceRef = { namespace: NAMESPACE, name: "race", uid: service.metadata?.uid, writer, ports: [{ name: "http", port: PORT, protocol: "TCP" as const }] };
    const desired = publishedEndpoints(state.slices, state.endpoints).map((endpoint) => ({ ...endpoint, ready: endpoint.address !== BACKENDS[0] }));
    const changes = planTarget({ service: serviceRef, publish: { endpointSlices: true, endpoints: true }, desired, existingSlices: state.slices, existingEndpoints: state.endpoints, endpointsTaken: false, takenSliceNames: [] });
    assert.equal(changes.length, 2);

    // Someone else writes the slice after we planned: our resourceVersion is now stale.
    const slice = state.slices[0]!;
    await cluster.admin.discovery.replaceNamespacedEndpointSlice({
      namespace: NAMESPACE,
      name: slice.metadata!.name!,
      body: { ...slice, metadata: { ...slice.metadata, annotations: { touched: "by-someone-else" } } },
    });
    const applied = await applyChanges(syncer, changes, writer);
    assert.equal(applied.conflictsRetried, 1);
    assert.equal(applied.writes, 2);
    const after = (await slicesOf("race"))[0]!;
    assert.equal(readiness([after])[BACKENDS[0]!], false);
    assert.equal(after.metadata?.annotations?.touched, "by-someone-else", "the other writer's annotation survives");
  });

  it("fails a target whose Endpoints the API server refuses, counting the writes made beside it", async () => {
    // A ValidatingAdmissionPolicy refuses Endpoints named "denied": the slices and the memory still go in.
    const kubeconfig = new KubeConfig();
    kubeconfig.loadFromFile(cluster.local.adminKubeconfig);
    const admission = kubeconfig.makeApiClient(AdmissionregistrationV1Api);
    const policy = "ees-it-refuse-endpoints";
    await admission.createValidatingAdmissionPolicy({
      body: {
        metadata: { name: policy },
        spec: {
          matchConstraints: { resourceRules: [{ apiGroups: [""], apiVersions: ["v1"], operations: ["CREATE", "UPDATE"], resources: ["endpoints"] }] },
          validations: [{ expression: "object.metadata.name != 'denied'", message: "no Endpoints named denied here" }],
        },
      },
    });
    await admission.createValidatingAdmissionPolicyBinding({ body: { metadata: { name: policy }, spec: { policyName: policy, validationActions: ["Deny"] } } });
    try {
      const probe = { metadata: { name: "denied", namespace: NAMESPACE } };
      // The policy takes effect once the API server has seen it: until a dry-run create is refused.
      await eventually(
        () => cluster.admin.core.createNamespacedEndpoints({ namespace: NAMESPACE, body: probe, dryRun: "All" }).then(() => "allowed", () => "refused"),
        (outcome) => outcome === "refused",
      );
      await createService("denied");
      const mark = await cluster.auditMark();

      // upsert-only: no pruning of the other tests' objects in the same run.
      const report = (await sync([target("denied")], { extra: { policy: "upsert-only" } })).targets[0]!;

      assert.equal(report.status, "failed");
      assert.match(report.error ?? "", /no Endpoints named denied here/);
      const succeeded = (await cluster.syncerWritesSince(mark)).filter((event) => (event.responseStatus?.code ?? 500) < 300);
      // The memory goes in beside the slice, and again to remember the failure for its one SyncFailed Event.
      const written = succeeded.filter((event) => event.objectRef?.resource !== "events");
      assert.deepEqual(written.map((event) => event.objectRef?.resource).sort(), ["configmaps", "configmaps", "endpointslices"]);
      assert.equal(succeeded.length - written.length, 1, "one Event: SyncFailed");
      assert.equal(report.writes, written.length);
      assert.equal((await slicesOf("denied")).length, 1);
    } finally {
      await admission.deleteValidatingAdmissionPolicyBinding({ name: policy });
      await admission.deleteValidatingAdmissionPolicy({ name: policy });
    }
  });

  it("lets the garbage collector remove our objects when the Service is deleted", async () => {
    await createService("doomed");
    await sync([target("doomed")]);
    assert.equal((await slicesOf("doomed")).length, 1);
    await cluster.admin.core.deleteNamespacedService({ namespace: NAMESPACE, name: "doomed" });
    const slices = await eventually(() => slicesOf("doomed"), (items) => items.length === 0);
    assert.deepEqual(slices, []);
    const endpoints = await eventually(
      () => cluster.admin.core.readNamespacedEndpoints({ namespace: NAMESPACE, name: "doomed" }).then(() => "present", () => "gone"),
      (state) => state === "gone",
    );
    assert.equal(endpoints, "gone");
  });

  it("keeps what a failed source published, and removes what a source that answered no longer finds", async () => {
    await createService("sources");
    const run = (a: Record<string, unknown>[], b: Record<string, unknown>[]) =>
      sync([target("sources", { sources: [{ name: "a", static: a }, { name: "b", static: b }], check: { none: {} } })]);
    await run([{ address: BACKENDS[0] }], [{ address: BACKENDS[1] }]);

    // Source a cannot resolve its name now; source b answers with a different address.
    const report = await run([{ hostname: "gone.ees-test.invalid" }], [{ address: BACKENDS[2] }]);
    const result = report.targets[0]!;
    assert.deepEqual(result.sources.map((source) => [source.name, source.status]), [["a", "failed"], ["b", "ok"]]);
    assert.match(result.sources[0]!.error!, /cannot resolve gone\.ees-test\.invalid/);
    assert.deepEqual(result.kept, [{ address: BACKENDS[0], reason: "source failed: a" }]);
    assert.deepEqual(Object.keys(readiness(await slicesOf("sources"))).sort(), [BACKENDS[0], BACKENDS[2]]);
  });

  it("leaves out addresses the API server would refuse, says why, and still syncs the rest", async () => {
    await createService("refused");
    const sources = [{ static: [{ address: BACKENDS[0] }, { address: "127.0.0.1" }, { address: "169.254.169.254" }, { hostname: "localhost" }] }];
    const report = await sync([target("refused", { sources })]);
    assert.equal(report.ok, true, report.targets[0]!.error);
    const rejected = report.targets[0]!.rejected.map((entry) => `${entry.address}: ${entry.reason}`).sort();
    assert.ok(rejected.includes("127.0.0.1: loopback address, refused by the API server"), rejected.join("; "));
    assert.ok(rejected.includes("169.254.169.254: link-local address, refused by the API server"), rejected.join("; "));
    assert.deepEqual(Object.keys(readiness(await slicesOf("refused"))), [BACKENDS[0]]);
  });
});
