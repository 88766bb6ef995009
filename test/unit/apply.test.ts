// applyChanges, the one writer, against the in-memory fake API server (test/harness/fake-kube.ts), whose fault
// hooks stand in for the races a real API server only shows by chance. test/integration/sync.test.ts has a
// 409 retry and a refused write against the real one.
//
// Cases: a 409 on update is re-read and rebased (the other writer's fields survive, and our status stamp
// too); a 409 on create of an
// object that is not there is created again; retries stop after MAX_CONFLICT_RETRIES; an object that turns
// out not to be ours raises NotOursError and is not written; a 404 on delete is success; a 500 fails with
// an ApplyError counting the writes made, and the deletes never start.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ApplyError, applyChanges, MAX_CONFLICT_RETRIES, NotOursError } from "../../functions/kube/apply.ts";
import { KubeApiError } from "../../functions/kube/errors.ts";
import type { Change, KubeObject } from "../../functions/plan/changes.ts";
import { endpointsLabels, sliceLabels, type Writer } from "../../functions/registry/labels.ts";
import { ENDPOINT_COUNTS, LAST_SYNC } from "../../functions/plan/status.ts";
import { FakeKube } from "../harness/fake-kube.ts";

const NAMESPACE = "shop";
const WRITER: Writer = { ownerId: "team-a", installation: "ees-prod", cluster: "main" };

const slice = (name: string, addresses: string[]): KubeObject => ({
  kind: "EndpointSlice",
  apiVersion: "discovery.k8s.io/v1",
  metadata: { name, namespace: NAMESPACE, labels: sliceLabels("db", WRITER) },
  addressType: "IPv4",
  ports: [{ name: "pg", port: 5432, protocol: "TCP" }],
  endpoints: addresses.map((address) => ({ addresses: [address], conditions: { ready: true } })),
});

const endpoints = (name: string): KubeObject => ({ kind: "Endpoints", apiVersion: "v1", metadata: { name, namespace: NAMESPACE, labels: endpointsLabels(WRITER) } });

const change = (action: Change["action"], object: KubeObject): Change => ({ action, object, endpoints: [] });

/** What the fake holds now, as planned against: with its uid and resourceVersion. */
const asRead = (fake: FakeKube, object: KubeObject): KubeObject => {
  const resource = object.kind === "EndpointSlice" ? "endpointslices" : "endpoints";
  return { ...object, metadata: { ...object.metadata, ...fake.object(resource, NAMESPACE, object.metadata!.name!)!.metadata } } as KubeObject;
};

const addressesOf = (fake: FakeKube, name: string) => (fake.object("endpointslices", NAMESPACE, name)?.endpoints as { addresses: string[] }[]).map((entry) => entry.addresses[0]);

describe("applyChanges against the in-memory fake API server", () => {
  it("a 409 on update is re-read and retried on top of what the other writer left", async () => {
    const fake = new FakeKube();
    fake.seed(slice("db-ipv4-0", ["192.0.2.10"]));
    const planned = { ...asRead(fake, slice("db-ipv4-0", ["192.0.2.10", "192.0.2.11"])) } as KubeObject;
    fake.beforeNext("update", "endpointslices", (kube) =>
      kube.edit("endpointslices", NAMESPACE, "db-ipv4-0", (object) => {
        object.metadata!.annotations = { "someone/else": "was here" };
      }),
    );

    const result = await applyChanges(fake.clients(), [change("update", planned)], WRITER);

    assert.deepEqual(result, { writes: 1, conflictsRetried: 1 });
    assert.deepEqual(fake.writes(), ["update endpointslices shop/db-ipv4-0", "update endpointslices shop/db-ipv4-0"]);
    assert.equal(fake.count("get", "endpointslices"), 1, "re-read once");
    assert.deepEqual(addressesOf(fake, "db-ipv4-0"), ["192.0.2.10", "192.0.2.11"]);
    assert.deepEqual(fake.object("endpointslices", NAMESPACE, "db-ipv4-0")?.metadata?.annotations, { "someone/else": "was here" });
  });

  it("a 409 on an update that stamps the status: the retry keeps our annotations beside the other writer's", async () => {
    const fake = new FakeKube();
    fake.seed(slice("db-ipv4-0", ["192.0.2.10"]));
    const read = asRead(fake, slice("db-ipv4-0", ["192.0.2.10"]));
    const stamp = { [LAST_SYNC]: "2026-11-30T10:00:00.000Z", [ENDPOINT_COUNTS]: "1 ready, 0 not ready" };
    const planned = { ...read, metadata: { ...read.metadata, annotations: stamp } } as KubeObject;
    fake.beforeNext("update", "endpointslices", (kube) =>
      kube.edit("endpointslices", NAMESPACE, "db-ipv4-0", (object) => {
        object.metadata!.annotations = { "someone/else": "was here" };
      }),
    );

    const result = await applyChanges(fake.clients(), [change("update", planned)], WRITER);

    assert.deepEqual(result, { writes: 1, conflictsRetried: 1 });
    assert.deepEqual(fake.object("endpointslices", NAMESPACE, "db-ipv4-0")?.metadata?.annotations, { "someone/else": "was here", ...stamp });
  });

  it("a 409 on create of an object that is not there: created again", async () => {
    const fake = new FakeKube();
    fake.failNext("create", "endpointslices", 409);

    const result = await applyChanges(fake.clients(), [change("create", slice("db-ipv4-0", ["192.0.2.10"]))], WRITER);

    assert.deepEqual(result, { writes: 1, conflictsRetried: 1 });
    assert.deepEqual(addressesOf(fake, "db-ipv4-0"), ["192.0.2.10"]);
  });

  it(`gives up after ${MAX_CONFLICT_RETRIES} retries with the API server's 409`, async () => {
    const fake = new FakeKube();
    fake.failNext("create", "endpointslices", 409, MAX_CONFLICT_RETRIES + 1);

    const error = await applyChanges(fake.clients(), [change("create", slice("db-ipv4-0", ["192.0.2.10"]))], WRITER).catch((caught: unknown) => caught);

    assert.ok(error instanceof ApplyError);
    assert.deepEqual(error.applied, { writes: 0, conflictsRetried: MAX_CONFLICT_RETRIES });
    assert.ok(error.cause instanceof KubeApiError);
    assert.equal(error.cause.status, 409);
    assert.equal(fake.count("create", "endpointslices"), MAX_CONFLICT_RETRIES + 1);
  });

  it("an object someone else created under our name while we planned raises NotOursError and is not written", async () => {
    const fake = new FakeKube();
    const theirs = { kind: "EndpointSlice", metadata: { name: "db-ipv4-0", namespace: NAMESPACE, labels: { "kubernetes.io/service-name": "db" } }, addressType: "IPv4", endpoints: [] };
    fake.beforeNext("create", "endpointslices", (kube) => kube.seed(theirs));

    const error = await applyChanges(fake.clients(), [change("create", slice("db-ipv4-0", ["192.0.2.10"]))], WRITER).catch((caught: unknown) => caught);

    assert.ok(error instanceof ApplyError);
    assert.ok(error.cause instanceof NotOursError, String(error.cause));
    assert.match(error.message, /EndpointSlice shop\/db-ipv4-0 exists and is not managed by external-endpoint-syncer/);
    assert.deepEqual(error.applied, { writes: 0, conflictsRetried: 1 });
    assert.deepEqual(fake.writes(), ["create endpointslices shop/db-ipv4-0"], "no update or delete after the re-read");
    assert.deepEqual(fake.object("endpointslices", NAMESPACE, "db-ipv4-0")?.endpoints, []);
  });

  it("a delete of what is already gone (404) is done", async () => {
    const fake = new FakeKube();
    fake.seed(slice("db-ipv4-0", ["192.0.2.10"]));
    const planned = asRead(fake, slice("db-ipv4-0", ["192.0.2.10"]));
    fake.remove("endpointslices", NAMESPACE, "db-ipv4-0");

    const result = await applyChanges(fake.clients(), [change("delete", planned)], WRITER);

    assert.deepEqual(result, { writes: 0, conflictsRetried: 0 });
    assert.deepEqual(fake.writes(), ["delete endpointslices shop/db-ipv4-0"]);
  });

  it("a delete that lost a race to an update (409 on its preconditions) is re-read and made against the new version", async () => {
    const fake = new FakeKube();
    fake.seed(slice("db-ipv4-0", ["192.0.2.10"]));
    const planned = asRead(fake, slice("db-ipv4-0", ["192.0.2.10"]));
    fake.edit("endpointslices", NAMESPACE, "db-ipv4-0", (object) => {
      object.metadata!.annotations = { touched: "yes" };
    });

    const result = await applyChanges(fake.clients(), [change("delete", planned)], WRITER);

    assert.deepEqual(result, { writes: 1, conflictsRetried: 1 });
    assert.equal(fake.object("endpointslices", NAMESPACE, "db-ipv4-0"), undefined);
  });

  it("a 500 fails with an ApplyError counting the writes made; the deletes never start", async () => {
    const fake = new FakeKube();
    fake.seed(slice("db-ipv4-9", ["192.0.2.99"]));
    const doomed = asRead(fake, slice("db-ipv4-9", ["192.0.2.99"]));
    fake.failNext("create", "endpoints", 500);

    const error = await applyChanges(
      fake.clients(),
      [change("create", slice("db-ipv4-0", ["192.0.2.10"])), change("create", endpoints("db")), change("delete", doomed)],
      WRITER,
    ).catch((caught: unknown) => caught);

    assert.ok(error instanceof ApplyError);
    assert.deepEqual(error.applied, { writes: 1, conflictsRetried: 0 });
    assert.match(error.message, /^create Endpoints shop\/db: HTTP 500 an error injected by the test/);
    assert.equal(fake.count("delete", "endpointslices"), 0);
    assert.ok(fake.object("endpointslices", NAMESPACE, "db-ipv4-9"));
  });
});
