// planStatus: the "is the syncer alive?" stamp on our first EndpointSlice, written with changes or on its own
// only when counts change or the heartbeat is due.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import type { Change } from "../../functions/plan/changes.ts";
import { ENDPOINT_COUNTS, LAST_SYNC, planStatus, STATUS_REFRESH_MS } from "../../functions/plan/status.ts";

const now = new Date("2026-11-26T12:00:00Z");
const slice = (name: string, annotations?: Record<string, string>): V1EndpointSlice => ({
  addressType: "IPv4",
  endpoints: [],
  metadata: { name, namespace: "ns", resourceVersion: "7", annotations },
});
const stamped = (at: Date, counts = "2 ready, 1 not ready") => ({ [LAST_SYNC]: at.toISOString(), [ENDPOINT_COUNTS]: counts });

describe("planStatus", () => {
  it("adds nothing while the stamp is fresh and the counts are the same", () => {
    const existing = [slice("web-ipv4-0", stamped(new Date(now.getTime() - STATUS_REFRESH_MS + 1000)))];
    assert.deepEqual(planStatus([], existing, { now, ready: 2, notReady: 1 }), []);
  });

  it("refreshes a stamp older than the heartbeat interval, on the first slice by name", () => {
    const old = stamped(new Date(now.getTime() - STATUS_REFRESH_MS));
    const changes = planStatus([], [slice("web-ipv4-1"), slice("web-ipv4-0", old)], { now, ready: 2, notReady: 1 });
    assert.equal(changes.length, 1);
    assert.equal(changes[0]!.action, "update");
    assert.equal(changes[0]!.object.metadata?.name, "web-ipv4-0");
    assert.deepEqual(changes[0]!.object.metadata?.annotations, stamped(now));
    assert.equal(changes[0]!.object.metadata?.resourceVersion, "7", "an update against what was read");
  });

  it("restamps at once when the counts change", () => {
    const changes = planStatus([], [slice("web-ipv4-0", stamped(now))], { now, ready: 3, notReady: 0 });
    assert.equal(changes[0]!.object.metadata?.annotations?.[ENDPOINT_COUNTS], "3 ready, 0 not ready");
  });

  it("stamps a slice that is written anyway instead of adding a write", () => {
    const created: Change = { action: "create", object: { ...slice("web-ipv4-0"), kind: "EndpointSlice" }, endpoints: [{ address: "10.0.0.1", change: "added" }] };
    const changes = planStatus([created], [], { now, ready: 1, notReady: 0 });
    assert.equal(changes.length, 1);
    assert.deepEqual(changes[0]!.object.metadata?.annotations, stamped(now, "1 ready, 0 not ready"));
    assert.deepEqual(changes[0]!.endpoints, created.endpoints);
  });

  it("skips slices about to be deleted, and stamps nothing when none will be left", () => {
    const deleted: Change = { action: "delete", object: { ...slice("web-ipv4-0"), kind: "EndpointSlice" }, endpoints: [] };
    assert.deepEqual(planStatus([deleted], [slice("web-ipv4-0")], { now, ready: 0, notReady: 0 }), [deleted]);
  });
});
