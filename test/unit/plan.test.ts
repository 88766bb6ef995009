import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { V1EndpointSlice, V1Endpoints, V1ObjectMeta, V1Service } from "@kubernetes/client-node";
import type { PortConfig } from "../../functions/config/schema.ts";
import type { DesiredEndpoint } from "../../functions/model.ts";
import { canonical, sameData, type Change, type KubeObject } from "../../functions/plan/changes.ts";
import { planEndpointSlices } from "../../functions/plan/endpoint-slices.ts";
import { planEndpoints } from "../../functions/plan/endpoints.ts";
import { claimObjects } from "../../functions/registry/ownership.ts";
import type { ServiceRef } from "../../functions/plan/owner.ts";
import { planTarget, type PlanInput } from "../../functions/plan/plan.ts";
import { writeOrder } from "../../functions/kube/apply.ts";
import { serviceProblem } from "../../functions/registry/service-check.ts";
import { FakeKube, resourceOf } from "../harness/fake-kube.ts";

const WRITER = { ownerId: "team-a", installation: "ees-prod", cluster: "main" };
const PORTS: PortConfig[] = [{ name: "pg", port: 5432, protocol: "TCP" }];

const service = (overrides: Partial<ServiceRef> = {}): ServiceRef => ({
  namespace: "shop",
  name: "db",
  uid: "svc-uid-1",
  writer: WRITER,
  ports: PORTS,
  ...overrides,
});

const endpoint = (address: string, ready = true, extra: Partial<DesiredEndpoint> = {}): DesiredEndpoint => ({
  address,
  family: address.includes(":") ? "IPv6" : "IPv4",
  ready,
  ...extra,
});

/** `count` distinct IPv4 endpoints from 10.<a>.<b>.<c>, all ready. */
function manyEndpoints(count: number, start = 0): DesiredEndpoint[] {
  return Array.from({ length: count }, (_, index) => {
    const n = start + index + 1;
    return endpoint(`10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`);
  });
}

/**
 * The planner's view of the fake API server (test/harness/fake-kube.ts), only for the idempotency tests: plans
 * are applied as written, without applyChanges' re-read on conflict, so a plan made against a stale
 * resourceVersion fails here, and a planned update or delete must name the resourceVersion it was planned against.
 */
class InMemoryApiServer {
  readonly #kube = new FakeKube();

  get writes(): number {
    return this.#kube.writes().length;
  }

  create(object: KubeObject): void {
    this.#kube.create(resourceOf(object.kind), object.metadata?.namespace ?? "", object);
  }

  update(object: KubeObject): void {
    assert.ok(object.metadata?.resourceVersion, `update ${object.kind} ${object.metadata?.name}: planned without a resourceVersion`);
    this.#kube.replace(resourceOf(object.kind), object.metadata.namespace ?? "", object.metadata.name ?? "", object);
  }

  delete(object: KubeObject): void {
    const { namespace = "", name = "", uid, resourceVersion } = object.metadata ?? {};
    assert.ok(resourceVersion, `delete ${object.kind} ${name}: planned without a resourceVersion`);
    this.#kube.delete(resourceOf(object.kind), namespace, name, { uid, resourceVersion });
  }

  /** Puts an object in place as someone else would have (not counted as our write). */
  seed(object: KubeObject): void {
    this.#kube.seed(object);
  }

  // What the API server stores is JSON; these tests read it as the planner's input types.
  slices(): V1EndpointSlice[] {
    return this.#kube.objects("endpointslices") as unknown as V1EndpointSlice[];
  }

  endpoints(name: string): V1Endpoints | undefined {
    return this.#kube.objects("endpoints").find((object) => object.metadata?.name === name) as unknown as V1Endpoints | undefined;
  }
}

function applyToFake(fake: InMemoryApiServer, changes: Change[]): void {
  for (const change of changes) fake[change.action](change.object);
}

type Scenario = Omit<PlanInput, "existingSlices" | "existingEndpoints" | "endpointsTaken" | "takenSliceNames">;

/** Plans against what the fake holds, read back the way a run does: only what claimObjects says is ours. */
function planOverFake(fake: InMemoryApiServer, scenario: Scenario): Change[] {
  const claimed = claimObjects(fake.slices(), fake.endpoints(scenario.service.name), scenario.service.writer, false);
  return planTarget({
    ...scenario,
    existingSlices: claimed.slices,
    existingEndpoints: claimed.endpoints,
    endpointsTaken: claimed.foreign.some((object) => object.kind === "Endpoints"),
    takenSliceNames: claimed.foreign.filter((object) => object.kind === "EndpointSlice").map((object) => object.name),
  });
}

/** Plans, applies, and plans again: returns the first plan and asserts the second one is empty. */
function convergeAndAssertIdempotent(fake: InMemoryApiServer, scenario: Scenario): Change[] {
  const first = planOverFake(fake, scenario);
  applyToFake(fake, first);
  const second = planOverFake(fake, scenario);
  assert.deepEqual(summarize(second), [], "planning again over what was just written must change nothing");
  return first;
}

/**
 * Plans and applies until a plan is empty: at most twice, and the second only packs a port set's slices again
 * (after endpoints swapped port sets), changing nothing any reader sees. Returns the first plan, and whether a
 * second was needed.
 */
function converge(fake: InMemoryApiServer, scenario: Scenario): { changes: Change[]; packed: boolean } {
  const changes = planOverFake(fake, scenario);
  applyToFake(fake, changes);
  const seen = () => [...fake.slices().flatMap((slice) => (slice.endpoints ?? []).map((entry) => `${entry.addresses[0]} ${entry.conditions?.ready} ${slice.ports?.[0]?.port}`)), canonical(fake.endpoints("db")?.subsets)].sort();
  const before = seen();
  const second = planOverFake(fake, scenario);
  if (second.length === 0) return { changes, packed: false };
  assert.deepEqual([...new Set(second.map((change) => change.object.kind))], ["EndpointSlice"], "only slices are packed");
  applyToFake(fake, second);
  assert.deepEqual(seen(), before, "packing changes nothing a reader sees");
  assert.deepEqual(summarize(planOverFake(fake, scenario)), [], "then nothing to do");
  return { changes, packed: true };
}

const summarize = (changes: Change[]) => changes.map((change) => `${change.action} ${change.object.kind} ${change.object.metadata?.name}`);

const sliceEndpoints = (slice: V1EndpointSlice) => (slice.endpoints ?? []).map((entry) => entry.addresses[0]);

/** What the fake publishes, slice by slice and in the Endpoints, checked against `desired`. */
function assertPublishes(fake: InMemoryApiServer, desired: DesiredEndpoint[], { endpoints = true, slices = true, maxPerSlice = 1000 } = {}) {
  const published = fake.slices().flatMap((slice) =>
    (slice.endpoints ?? []).map((entry) => {
      assert.equal(entry.addresses[0]!.includes(":") ? "IPv6" : "IPv4", slice.addressType, "one family per slice");
      return `${entry.addresses[0]} ${entry.conditions?.ready}`;
    }),
  );
  for (const slice of fake.slices()) {
    assert.ok((slice.endpoints ?? []).length <= maxPerSlice, `${slice.metadata?.name} holds at most ${maxPerSlice}`);
    assert.ok((slice.endpoints ?? []).length > 0, `${slice.metadata?.name} is not left empty`);
  }
  const wanted = desired.map((entry) => `${entry.address} ${entry.ready}`).sort();
  assert.deepEqual(published.sort(), slices ? wanted : []);
  const object = fake.endpoints("db");
  if (!endpoints) {
    assert.equal(object, undefined);
    return;
  }
  const listed = (object?.subsets ?? []).flatMap((subset) => [
    ...(subset.addresses ?? []).map((address) => `${address.ip} true`),
    ...(subset.notReadyAddresses ?? []).map((address) => `${address.ip} false`),
  ]);
  assert.deepEqual(listed.sort(), wanted);
}

const scenario = (desired: DesiredEndpoint[], overrides: Partial<Scenario> = {}): Scenario => ({
  service: service(),
  publish: { endpointSlices: true, endpoints: true },
  desired,
  ...overrides,
});

describe("planTarget: idempotency against an in-memory API server", () => {
  it("creates from nothing, then has nothing to do", () => {
    const fake = new InMemoryApiServer();
    const desired = [endpoint("10.0.0.1"), endpoint("10.0.0.2", false), endpoint("10.0.0.3")];

    const first = convergeAndAssertIdempotent(fake, scenario(desired));

    assert.deepEqual(summarize(first), ["create EndpointSlice db-ipv4-0", "create Endpoints db"]);
    assertPublishes(fake, desired);
  });

  it("a health change updates in place, then has nothing to do", () => {
    const fake = new InMemoryApiServer();
    convergeAndAssertIdempotent(fake, scenario([endpoint("10.0.0.1"), endpoint("10.0.0.2")]));
    const desired = [endpoint("10.0.0.1"), endpoint("10.0.0.2", false)];

    const changes = convergeAndAssertIdempotent(fake, scenario(desired));

    assert.deepEqual(summarize(changes), ["update EndpointSlice db-ipv4-0", "update Endpoints db"]);
    assert.deepEqual(changes.map((change) => change.endpoints), [[{ address: "10.0.0.2", change: "notReady" }], [{ address: "10.0.0.2", change: "notReady" }]]);
    assertPublishes(fake, desired);
  });

  it("a removal updates in place, then has nothing to do", () => {
    const fake = new InMemoryApiServer();
    convergeAndAssertIdempotent(fake, scenario([endpoint("10.0.0.1"), endpoint("10.0.0.2")]));
    const desired = [endpoint("10.0.0.2")];

    const changes = convergeAndAssertIdempotent(fake, scenario(desired));

    assert.deepEqual(changes.map((change) => [change.action, change.endpoints]), [
      ["update", [{ address: "10.0.0.1", change: "removed" }]],
      ["update", [{ address: "10.0.0.1", change: "removed" }]],
    ]);
    assertPublishes(fake, desired);
  });

  it("splits 2,500 endpoints into 3 slices of at most 1000, then has nothing to do", () => {
    const fake = new InMemoryApiServer();
    const desired = manyEndpoints(2500);

    const first = convergeAndAssertIdempotent(fake, scenario(desired));

    assert.deepEqual(summarize(first), ["create EndpointSlice db-ipv4-0", "create EndpointSlice db-ipv4-1", "create EndpointSlice db-ipv4-2", "create Endpoints db"]);
    assert.deepEqual(fake.slices().map((slice) => slice.endpoints?.length).sort(), [1000, 1000, 500]);
    assertPublishes(fake, desired);
  });

  it("after 2,500 endpoints, a health change of one touches only its slice, then nothing", () => {
    const fake = new InMemoryApiServer();
    const desired = manyEndpoints(2500);
    convergeAndAssertIdempotent(fake, scenario(desired));
    const target = desired[1500]!;
    const changed = desired.map((entry) => (entry === target ? { ...entry, ready: false } : entry));

    const changes = convergeAndAssertIdempotent(fake, scenario(changed));

    const holder = fake.slices().find((slice) => sliceEndpoints(slice).includes(target.address))!;
    assert.deepEqual(summarize(changes), [`update EndpointSlice ${holder.metadata?.name}`, "update Endpoints db"]);
    assertPublishes(fake, changed);
  });

  it("mixed IPv4 and IPv6 gives one slice set per family, then nothing", () => {
    const fake = new InMemoryApiServer();
    const desired = [endpoint("10.0.0.1"), endpoint("2001:db8::1"), endpoint("2001:db8::2", false), endpoint("10.0.0.2")];

    const first = convergeAndAssertIdempotent(fake, scenario(desired));

    assert.deepEqual(summarize(first), ["create EndpointSlice db-ipv4-0", "create EndpointSlice db-ipv6-0", "create Endpoints db"]);
    const byType = Object.fromEntries(fake.slices().map((slice) => [slice.addressType, sliceEndpoints(slice)]));
    assert.deepEqual(byType, { IPv4: ["10.0.0.1", "10.0.0.2"], IPv6: ["2001:db8::1", "2001:db8::2"] });
    assertPublishes(fake, desired);
  });

  it("removing a whole family deletes its slices, then nothing", () => {
    const fake = new InMemoryApiServer();
    convergeAndAssertIdempotent(fake, scenario([endpoint("10.0.0.1"), endpoint("2001:db8::1")]));
    const desired = [endpoint("10.0.0.1")];

    const changes = convergeAndAssertIdempotent(fake, scenario(desired));

    assert.deepEqual(summarize(changes), ["delete EndpointSlice db-ipv6-0", "update Endpoints db"]);
    assertPublishes(fake, desired);
  });

  it("a ports change rewrites every slice and the Endpoints, then nothing", () => {
    const fake = new InMemoryApiServer();
    const desired = [endpoint("10.0.0.1"), endpoint("2001:db8::1")];
    convergeAndAssertIdempotent(fake, scenario(desired));
    const ports: PortConfig[] = [
      { name: "pg", port: 6432, protocol: "TCP" },
      { name: "metrics", port: 9187, protocol: "TCP", appProtocol: "http" },
    ];

    const changes = convergeAndAssertIdempotent(fake, scenario(desired, { service: service({ ports }) }));

    assert.deepEqual(summarize(changes), ["update EndpointSlice db-ipv4-0", "update EndpointSlice db-ipv6-0", "update Endpoints db"]);
    assert.ok(changes.every((change) => change.endpoints.length === 0), "no endpoint changed, only ports");
    const expectedPorts = [
      { name: "pg", port: 6432, protocol: "TCP" },
      { name: "metrics", port: 9187, protocol: "TCP", appProtocol: "http" },
    ];
    for (const slice of fake.slices()) assert.deepEqual(slice.ports, expectedPorts);
    assert.deepEqual(fake.endpoints("db")?.subsets?.[0]?.ports, expectedPorts);
  });

  it("a single unnamed port converges, though the API server omits the Endpoints port's empty name", () => {
    const fake = new InMemoryApiServer();
    const desired = [endpoint("10.0.0.1"), endpoint("2001:db8::1")];

    convergeAndAssertIdempotent(fake, scenario(desired, { service: service({ ports: [{ port: 5432, protocol: "TCP" }] }) }));

    assert.deepEqual(fake.endpoints("db")?.subsets?.[0]?.ports, [{ port: 5432, protocol: "TCP" }]);
    assert.deepEqual(fake.slices()[0]?.ports, [{ name: "", port: 5432, protocol: "TCP" }]);
  });

  it("converges around someone else's slice and Endpoints, never touching them", () => {
    const fake = new InMemoryApiServer();
    const foreignSlice: KubeObject = {
      kind: "EndpointSlice",
      addressType: "IPv4",
      metadata: { name: "db-ipv4-0", namespace: "shop", labels: { "endpointslice.kubernetes.io/managed-by": "endpointslicemirroring-controller.k8s.io" } },
      endpoints: [{ addresses: ["192.0.2.1"] }],
    };
    const foreignEndpoints: KubeObject = { kind: "Endpoints", metadata: { name: "db", namespace: "shop" }, subsets: [{ addresses: [{ ip: "192.0.2.1" }] }] };
    fake.seed(foreignSlice);
    fake.seed(foreignEndpoints);
    const desired = manyEndpoints(3);

    const first = convergeAndAssertIdempotent(fake, scenario(desired, { maxEndpointsPerSlice: 2 }));

    assert.deepEqual(summarize(first), ["create EndpointSlice db-ipv4-1", "create EndpointSlice db-ipv4-2"]);
    assert.deepEqual(fake.endpoints("db")?.subsets, foreignEndpoints.subsets);
    assert.deepEqual(fake.slices().find((slice) => slice.metadata?.name === "db-ipv4-0")?.endpoints, foreignSlice.endpoints);
  });

  it("turning publish.endpoints off deletes our Endpoints and keeps the slices, then nothing", () => {
    const fake = new InMemoryApiServer();
    const desired = [endpoint("10.0.0.1")];
    convergeAndAssertIdempotent(fake, scenario(desired));

    const changes = convergeAndAssertIdempotent(fake, scenario(desired, { publish: { endpointSlices: true, endpoints: false } }));

    assert.deepEqual(summarize(changes), ["delete Endpoints db"]);
    assert.deepEqual(changes[0]?.endpoints, [{ address: "10.0.0.1", change: "removed" }]);
    assertPublishes(fake, desired, { endpoints: false });
  });

  it("turning publish.endpointSlices off deletes our slices and keeps the Endpoints, then nothing", () => {
    const fake = new InMemoryApiServer();
    const desired = [endpoint("10.0.0.1"), endpoint("2001:db8::1")];
    convergeAndAssertIdempotent(fake, scenario(desired));

    const changes = convergeAndAssertIdempotent(fake, scenario(desired, { publish: { endpointSlices: false, endpoints: true } }));

    assert.deepEqual(summarize(changes), ["delete EndpointSlice db-ipv4-0", "delete EndpointSlice db-ipv6-0"]);
    assertPublishes(fake, desired, { slices: false });
  });

  it("zero desired endpoints from nothing writes nothing", () => {
    const fake = new InMemoryApiServer();

    const first = convergeAndAssertIdempotent(fake, scenario([]));

    assert.deepEqual(first, []);
    assert.equal(fake.writes, 0);
  });

  it("zero desired endpoints after some deletes the slices and empties the Endpoints, then nothing", () => {
    const fake = new InMemoryApiServer();
    convergeAndAssertIdempotent(fake, scenario([endpoint("10.0.0.1"), endpoint("2001:db8::1", false)]));

    const changes = convergeAndAssertIdempotent(fake, scenario([]));

    assert.deepEqual(summarize(changes), ["delete EndpointSlice db-ipv4-0", "delete EndpointSlice db-ipv6-0", "update Endpoints db"]);
    assert.deepEqual(fake.slices(), []);
    assert.ok(fake.endpoints("db"), "the Endpoints stays, empty");
    assert.deepEqual(fake.endpoints("db")?.subsets ?? [], []);
  });

  it("a Service created in the same dry run (no uid yet) still converges: no owner references", () => {
    const fake = new InMemoryApiServer();

    convergeAndAssertIdempotent(fake, scenario([endpoint("10.0.0.1")], { service: service({ uid: undefined }) }));

    assert.deepEqual(fake.slices()[0]?.metadata?.ownerReferences, []);
  });

  it("a long sequence of random changes converges after every step", () => {
    // Prepare: a deterministic pseudo-random walk over adds, removals and health flips across both families.
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pool = [...manyEndpoints(40).map((entry) => entry.address), ...Array.from({ length: 20 }, (_, i) => `2001:db8::${(i + 1).toString(16)}`)];
    const fake = new InMemoryApiServer();
    let state = new Map<string, boolean>();

    for (let step = 0; step < 30; step++) {
      const next = new Map(state);
      for (const address of pool) {
        const roll = random();
        if (roll < 0.1) next.delete(address);
        else if (roll < 0.2) next.set(address, true);
        else if (roll < 0.25 && next.has(address)) next.set(address, !next.get(address));
      }
      state = next;
      const desired = [...state].map(([address, ready]) => endpoint(address, ready));

      // Act + Assess
      convergeAndAssertIdempotent(fake, scenario(desired, { maxEndpointsPerSlice: 7 }));
      assertPublishes(fake, desired, { maxPerSlice: 7 });
    }
  });
});

describe("planEndpointSlices: churn", () => {
  /** Writes `desired` into a fresh fake with `maxPerSlice`, and returns the fake. */
  function published(desired: DesiredEndpoint[], maxPerSlice: number): InMemoryApiServer {
    const fake = new InMemoryApiServer();
    applyToFake(fake, planEndpointSlices(service(), desired, [], [], maxPerSlice));
    return fake;
  }

  it("adds a new endpoint to a slice with room: one update, no create", () => {
    // Prepare: db-ipv4-0 full with 3, db-ipv4-1 holding 1.
    const before = manyEndpoints(4);
    const fake = published(before, 3);
    assert.deepEqual(fake.slices().map((slice) => slice.endpoints?.length), [3, 1]);

    // Act
    const changes = planEndpointSlices(service(), [...before, ...manyEndpoints(1, 10)], fake.slices(), [], 3);

    // Assess
    assert.deepEqual(summarize(changes), ["update EndpointSlice db-ipv4-1"]);
    assert.deepEqual(changes[0]?.endpoints, [{ address: "10.0.0.11", change: "added" }]);
    assert.deepEqual(sliceEndpoints(changes[0]!.object as V1EndpointSlice), ["10.0.0.11", "10.0.0.4"]);
  });

  it("adds a new endpoint in a new slice when every slice is full", () => {
    const before = manyEndpoints(3);
    const fake = published(before, 3);

    const changes = planEndpointSlices(service(), [...before, ...manyEndpoints(1, 10)], fake.slices(), [], 3);

    assert.deepEqual(summarize(changes), ["create EndpointSlice db-ipv4-1"]);
    assert.deepEqual(changes[0]?.endpoints, [{ address: "10.0.0.11", change: "added" }]);
  });

  it("leaves endpoints in the slice that holds them: removing one from a full slice does not move others", () => {
    const before = manyEndpoints(5);
    const fake = published(before, 3);

    const changes = planEndpointSlices(service(), before.filter((entry) => entry.address !== "10.0.0.2"), fake.slices(), [], 3);

    assert.deepEqual(summarize(changes), ["update EndpointSlice db-ipv4-0"]);
    assert.deepEqual(changes[0]?.endpoints, [{ address: "10.0.0.2", change: "removed" }]);
  });

  it("prefers a slice that changes anyway for a new endpoint, so one write does both", () => {
    // Prepare: written with at most 2 a slice, db-ipv4-0 holds 1,2 and db-ipv4-1 holds 3; now at most 3, both have room.
    // A health change in db-ipv4-1 and one new endpoint: the fuller db-ipv4-0 would otherwise be chosen.
    const fake = published(manyEndpoints(3), 2);
    assert.deepEqual(fake.slices().map(sliceEndpoints), [["10.0.0.1", "10.0.0.2"], ["10.0.0.3"]]);
    const desired = [endpoint("10.0.0.1"), endpoint("10.0.0.2"), endpoint("10.0.0.3", false), endpoint("10.0.0.9")];

    const changes = planEndpointSlices(service(), desired, fake.slices(), [], 3);

    assert.deepEqual(summarize(changes), ["update EndpointSlice db-ipv4-1"]);
    assert.deepEqual(changes[0]?.endpoints, [
      { address: "10.0.0.3", change: "notReady" },
      { address: "10.0.0.9", change: "added" },
    ]);
  });

  it("deletes a slice whose endpoints are all gone, and touches no other", () => {
    const before = manyEndpoints(5);
    const fake = published(before, 3);
    const secondSlice = fake.slices().find((slice) => slice.metadata?.name === "db-ipv4-1")!;
    const gone = new Set(sliceEndpoints(secondSlice));

    const changes = planEndpointSlices(service(), before.filter((entry) => !gone.has(entry.address)), fake.slices(), [], 3);

    assert.deepEqual(summarize(changes), ["delete EndpointSlice db-ipv4-1"]);
    assert.equal(changes[0]?.object.metadata?.resourceVersion, secondSlice.metadata?.resourceVersion, "deletes what it read");
    assert.deepEqual(changes[0]?.endpoints.map((entry) => entry.change), ["removed", "removed"]);
  });

  const conditionCases: { from: boolean; to: boolean; change: "ready" | "notReady" }[] = [
    { from: true, to: false, change: "notReady" },
    { from: false, to: true, change: "ready" },
  ];
  for (const { from, to, change } of conditionCases) {
    it(`a condition change ${from ? "ready" : "not ready"} -> ${to ? "ready" : "not ready"} updates the slice in place, reported as ${change}`, () => {
      const fake = published([endpoint("10.0.0.1", from), endpoint("10.0.0.2")], 1000);
      const existing = fake.slices()[0]!;

      const changes = planEndpointSlices(service(), [endpoint("10.0.0.1", to), endpoint("10.0.0.2")], fake.slices());

      assert.deepEqual(summarize(changes), ["update EndpointSlice db-ipv4-0"]);
      assert.deepEqual(changes[0]?.endpoints, [{ address: "10.0.0.1", change }]);
      assert.equal(changes[0]?.object.metadata?.resourceVersion, existing.metadata?.resourceVersion);
      assert.equal(changes[0]?.object.metadata?.uid, existing.metadata?.uid);
      const written = (changes[0]!.object as V1EndpointSlice).endpoints?.find((entry) => entry.addresses[0] === "10.0.0.1");
      assert.deepEqual(written?.conditions, { ready: to, serving: to, terminating: false });
    });
  }

  it("reports a hostname, nodeName or zone change as updated", () => {
    const fake = published([endpoint("10.0.0.1", true, { zone: "z1" })], 1000);

    const changes = planEndpointSlices(service(), [endpoint("10.0.0.1", true, { zone: "z2" })], fake.slices());

    assert.deepEqual(changes[0]?.endpoints, [{ address: "10.0.0.1", change: "updated" }]);
  });

  it("never reuses a foreign slice name, nor one of ours, for a new slice", () => {
    // Prepare: someone else's slice is called db-ipv4-0, and ours db-ipv4-1 is full.
    const fake = new InMemoryApiServer();
    applyToFake(fake, planEndpointSlices(service(), manyEndpoints(2), [], ["db-ipv4-0"], 2));
    assert.deepEqual(fake.slices().map((slice) => slice.metadata?.name), ["db-ipv4-1"]);

    const changes = planEndpointSlices(service(), manyEndpoints(5), fake.slices(), ["db-ipv4-0", "db-ipv4-3"], 2);

    assert.deepEqual(summarize(changes), ["create EndpointSlice db-ipv4-2", "create EndpointSlice db-ipv4-4"]);
  });

  it("rewrites a slice of ours that lost our labels or owner reference, without endpoint changes", () => {
    const fake = published([endpoint("10.0.0.1")], 1000);
    const [slice] = fake.slices();
    slice!.metadata!.labels = { ...slice!.metadata!.labels, "kubernetes.io/service-name": "other" };
    slice!.metadata!.ownerReferences = [];

    const changes = planEndpointSlices(service(), [endpoint("10.0.0.1")], [slice!]);

    assert.deepEqual(summarize(changes), ["update EndpointSlice db-ipv4-0"]);
    assert.deepEqual(changes[0]?.endpoints, []);
    assert.equal(changes[0]?.object.metadata?.labels?.["kubernetes.io/service-name"], "db");
    assert.equal(changes[0]?.object.metadata?.ownerReferences?.length, 1);
  });

  it("an address listed twice across our slices ends up in one slice only", () => {
    const fake = published(manyEndpoints(2), 1);
    const [first, second] = fake.slices();
    second!.endpoints = [...(second!.endpoints ?? []), ...(first!.endpoints ?? [])];

    const changes = planEndpointSlices(service(), manyEndpoints(2), [first!, second!], [], 1);

    assert.deepEqual(summarize(changes), ["update EndpointSlice db-ipv4-1"]);
    assert.deepEqual(sliceEndpoints(changes[0]!.object as V1EndpointSlice), ["10.0.0.2"]);
  });
});

describe("what we write", () => {
  const desired = [endpoint("10.0.0.2", false, { hostname: "db-2", nodeName: "node-b", zone: "z2" }), endpoint("10.0.0.1", true, { hostname: "db-1" })];
  const changes = planTarget({
    ...scenario(desired),
    existingSlices: [],
    existingEndpoints: undefined,
    endpointsTaken: false,
    takenSliceNames: [],
  });
  const slice = changes.find((change) => change.object.kind === "EndpointSlice")!.object as V1EndpointSlice & { kind: "EndpointSlice" };
  const endpointsObject = changes.find((change) => change.object.kind === "Endpoints")!.object as V1Endpoints & { kind: "Endpoints" };
  const ownerReference = [{ apiVersion: "v1", kind: "Service", name: "db", uid: "svc-uid-1", controller: true }];

  it("EndpointSlices carry both managed-by labels, the service-name label and the owner, installation and cluster entry labels", () => {
    assert.equal(slice.apiVersion, "discovery.k8s.io/v1");
    assert.equal(slice.metadata?.namespace, "shop");
    assert.deepEqual(slice.metadata?.labels, {
      "app.kubernetes.io/managed-by": "external-endpoint-syncer",
      "endpointslice.kubernetes.io/managed-by": "external-endpoint-syncer",
      "kubernetes.io/service-name": "db",
      "external-endpoint-syncer/owner": "team-a",
      "external-endpoint-syncer/installation": "ees-prod",
      "external-endpoint-syncer/cluster": "main",
    });
  });

  it("EndpointSlices are owned by the Service's uid", () => {
    assert.deepEqual(slice.metadata?.ownerReferences, ownerReference);
  });

  it("EndpointSlice endpoints are sorted, and not ready means not serving either", () => {
    assert.equal(slice.addressType, "IPv4");
    assert.deepEqual(slice.endpoints, [
      { addresses: ["10.0.0.1"], conditions: { ready: true, serving: true, terminating: false }, hostname: "db-1", nodeName: undefined, zone: undefined },
      { addresses: ["10.0.0.2"], conditions: { ready: false, serving: false, terminating: false }, hostname: "db-2", nodeName: "node-b", zone: "z2" },
    ]);
    assert.deepEqual(slice.ports, [{ name: "pg", port: 5432, protocol: "TCP", appProtocol: undefined }]);
  });

  it("Endpoints carry managed-by, the owner, installation and cluster entry labels and skip-mirror=true, and are owned by the Service", () => {
    assert.equal(endpointsObject.apiVersion, "v1");
    assert.equal(endpointsObject.metadata?.name, "db");
    assert.deepEqual(endpointsObject.metadata?.labels, {
      "app.kubernetes.io/managed-by": "external-endpoint-syncer",
      "external-endpoint-syncer/owner": "team-a",
      "external-endpoint-syncer/installation": "ees-prod",
      "external-endpoint-syncer/cluster": "main",
      "endpointslice.kubernetes.io/skip-mirror": "true",
    });
    assert.deepEqual(endpointsObject.metadata?.ownerReferences, ownerReference);
  });

  it("Endpoints list ready backends in addresses and failing ones in notReadyAddresses", () => {
    assert.deepEqual(endpointsObject.subsets, [
      {
        addresses: [{ ip: "10.0.0.1", hostname: "db-1", nodeName: undefined }],
        notReadyAddresses: [{ ip: "10.0.0.2", hostname: "db-2", nodeName: "node-b" }],
        ports: [{ name: "pg", port: 5432, protocol: "TCP", appProtocol: undefined }],
      },
    ]);
  });

  it("an update keeps the labels others put on the object, and drops managedFields", () => {
    const existing: V1EndpointSlice = {
      ...slice,
      metadata: { ...slice.metadata, resourceVersion: "7", uid: "u", labels: { ...slice.metadata?.labels, team: "dba" }, managedFields: [{ manager: "kubectl" }] },
    };

    const [change] = planEndpointSlices(service(), [endpoint("10.0.0.1")], [existing]);

    assert.equal(change?.action, "update");
    assert.equal(change?.object.metadata?.labels?.team, "dba");
    assert.equal(change?.object.metadata?.managedFields, undefined);
  });

  it("the Endpoints planner reads split or reordered subsets as the same thing", () => {
    // The API server may regroup subsets: same addresses, same ports, different shape.
    const existing: V1Endpoints = {
      metadata: { ...endpointsObject.metadata, resourceVersion: "3" },
      subsets: [
        { notReadyAddresses: [{ ip: "10.0.0.2", hostname: "db-2", nodeName: "node-b" }], ports: [{ name: "pg", port: 5432 }] },
        { addresses: [{ ip: "10.0.0.1", hostname: "db-1" }], ports: [{ name: "pg", port: 5432, protocol: "TCP" }] },
      ],
    };

    assert.deepEqual(planEndpoints(service(), desired, existing), []);
  });

  it("leaves an Endpoints of someone else's alone when it is taken", () => {
    const result = planTarget({ ...scenario(desired), existingSlices: [], existingEndpoints: undefined, endpointsTaken: true, takenSliceNames: [] });

    assert.deepEqual(summarize(result), ["create EndpointSlice db-ipv4-0"]);
  });
});

describe("claimObjects", () => {
  const legacy = { "app.kubernetes.io/managed-by": "external-endpoint-syncer", "external-endpoint-syncer/owner": "team-a" };
  const ours = { ...legacy, "external-endpoint-syncer/installation": "ees-prod", "external-endpoint-syncer/cluster": "main" };
  const sliceWith = (name: string, labels: Record<string, string> | undefined): V1EndpointSlice => ({ addressType: "IPv4", metadata: { name, labels } });
  const endpointsWith = (labels: Record<string, string> | undefined): V1Endpoints => ({ metadata: { name: "db", labels } });

  const sliceCases: { name: string; labels: Record<string, string> | undefined; adopt: boolean; claimed: boolean; managedBy?: string; anotherWriter?: true }[] = [
    { name: "ours", labels: { ...ours, "endpointslice.kubernetes.io/managed-by": "external-endpoint-syncer" }, adopt: false, claimed: true },
    { name: "an earlier version's, with our owner id and no installation label", labels: legacy, adopt: false, claimed: true },
    {
      name: "another installation's with our owner id, adopt on",
      labels: { ...ours, "external-endpoint-syncer/installation": "ees-dev" },
      adopt: true,
      claimed: false,
      managedBy: "external-endpoint-syncer (installation ees-dev, cluster entry main, owner id team-a)",
      anotherWriter: true,
    },
    {
      name: "another cluster entry's of this installation",
      labels: { ...ours, "external-endpoint-syncer/cluster": "main-again" },
      adopt: false,
      claimed: false,
      managedBy: "external-endpoint-syncer (installation ees-prod, cluster entry main-again, owner id team-a)",
      anotherWriter: true,
    },
    { name: "hand-made, adopt off", labels: { "kubernetes.io/service-name": "db" }, adopt: false, claimed: false, managedBy: "unknown (no managed-by label)" },
    { name: "hand-made, adopt on", labels: { "kubernetes.io/service-name": "db" }, adopt: true, claimed: true },
    { name: "no labels at all, adopt on", labels: undefined, adopt: true, claimed: true },
    { name: "made by another tool, adopt on", labels: { "endpointslice.kubernetes.io/managed-by": "my-script" }, adopt: true, claimed: true },
    {
      name: "the EndpointSlice controller's, adopt on",
      labels: { "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io" },
      adopt: true,
      claimed: false,
      managedBy: "endpointslice-controller.k8s.io",
    },
    {
      name: "the mirroring controller's, adopt on",
      labels: { "endpointslice.kubernetes.io/managed-by": "endpointslicemirroring-controller.k8s.io" },
      adopt: true,
      claimed: false,
      managedBy: "endpointslicemirroring-controller.k8s.io",
    },
    {
      name: "another owner id's, adopt on",
      labels: { ...ours, "external-endpoint-syncer/owner": "team-b" },
      adopt: true,
      claimed: false,
      managedBy: "external-endpoint-syncer (installation ees-prod, cluster entry main, owner id team-b)",
      anotherWriter: true,
    },
    {
      name: "ours without an owner label, adopt on",
      labels: { "app.kubernetes.io/managed-by": "external-endpoint-syncer" },
      adopt: true,
      claimed: false,
      managedBy: "external-endpoint-syncer (installation unknown, cluster entry unknown, owner id none)",
      anotherWriter: true,
    },
  ];
  for (const { name, labels, adopt, claimed, managedBy, anotherWriter } of sliceCases) {
    it(`a slice ${name} is ${claimed ? "claimed" : "left alone as foreign"}`, () => {
      const slice = sliceWith("db-x", labels);

      const result = claimObjects([slice], undefined, WRITER, adopt);

      assert.deepEqual(result.slices, claimed ? [slice] : []);
      assert.deepEqual(result.foreign, claimed ? [] : [{ kind: "EndpointSlice", name: "db-x", managedBy, ...(anotherWriter && { anotherWriter }) }]);
      assert.equal(result.endpoints, undefined);
    });
  }

  const endpointsCases: { name: string; labels: Record<string, string> | undefined; adopt: boolean; claimed: boolean; managedBy?: string; anotherWriter?: true }[] = [
    { name: "ours", labels: { ...ours, "endpointslice.kubernetes.io/skip-mirror": "true" }, adopt: false, claimed: true },
    { name: "hand-made, adopt off", labels: undefined, adopt: false, claimed: false, managedBy: "unknown (no managed-by label)" },
    { name: "hand-made, adopt on", labels: undefined, adopt: true, claimed: true },
    { name: "another tool's, adopt off", labels: { "app.kubernetes.io/managed-by": "helm" }, adopt: false, claimed: false, managedBy: "helm" },
    {
      name: "another owner id's, adopt on",
      labels: { ...ours, "external-endpoint-syncer/owner": "team-b" },
      adopt: true,
      claimed: false,
      managedBy: "external-endpoint-syncer (installation ees-prod, cluster entry main, owner id team-b)",
      anotherWriter: true,
    },
  ];
  for (const { name, labels, adopt, claimed, managedBy, anotherWriter } of endpointsCases) {
    it(`an Endpoints ${name} is ${claimed ? "claimed" : "left alone as foreign"}`, () => {
      const object = endpointsWith(labels);

      const result = claimObjects([], object, WRITER, adopt);

      assert.equal(result.endpoints, claimed ? object : undefined);
      assert.deepEqual(result.foreign, claimed ? [] : [{ kind: "Endpoints", name: "db", managedBy, ...(anotherWriter && { anotherWriter }) }]);
    });
  }

  it("sorts a mix of slices into ours and foreign, keeping their order", () => {
    const mine = sliceWith("db-ipv4-0", ours);
    const controllers = sliceWith("db-abcde", { "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io" });
    const handMade = sliceWith("db-manual", {});

    const result = claimObjects([controllers, mine, handMade], undefined, WRITER, true);

    assert.deepEqual(result.slices, [mine, handMade]);
    assert.deepEqual(result.foreign.map((object) => object.name), ["db-abcde"]);
  });

  it("an adopted slice is rewritten with our labels on the next plan, keeping its name", () => {
    const handMade: V1EndpointSlice = {
      addressType: "IPv4",
      metadata: { name: "db-manual", namespace: "shop", resourceVersion: "5", labels: { "kubernetes.io/service-name": "db" } },
      endpoints: [{ addresses: ["10.0.0.1"] }],
    };
    const { slices } = claimObjects([handMade], undefined, WRITER, true);

    const changes = planEndpointSlices(service(), [endpoint("10.0.0.1")], slices);

    assert.deepEqual(summarize(changes), ["update EndpointSlice db-manual"]);
    assert.equal(changes[0]?.object.metadata?.labels?.["app.kubernetes.io/managed-by"], "external-endpoint-syncer");
    assert.equal(changes[0]?.object.metadata?.resourceVersion, "5");
  });
});

describe("serviceProblem", () => {
  const serviceWith = (spec: V1Service["spec"]): V1Service => ({ metadata: { namespace: "shop", name: "db" } as V1ObjectMeta, spec });

  it("accepts a selector-less Service whose ports are named like ours", () => {
    const ports: PortConfig[] = [
      { name: "pg", port: 5432, protocol: "TCP" },
      { name: "metrics", port: 9187, protocol: "TCP" },
    ];

    const problem = serviceProblem(serviceWith({ ports: [{ name: "metrics", port: 9187 }, { name: "pg", port: 5432 }] }), ports);

    assert.equal(problem, undefined);
  });

  it("accepts an unnamed single port against an unnamed Service port", () => {
    assert.equal(serviceProblem(serviceWith({ ports: [{ port: 80 }] }), [{ port: 80, protocol: "TCP" }]), undefined);
  });

  it("accepts an empty selector as no selector", () => {
    assert.equal(serviceProblem(serviceWith({ selector: {}, ports: [{ name: "pg", port: 5432 }] }), PORTS), undefined);
  });

  it("refuses a Service with a selector, naming it", () => {
    const problem = serviceProblem(serviceWith({ selector: { app: "db", tier: "data" }, ports: [{ name: "pg", port: 5432 }] }), PORTS);

    assert.deepEqual(problem, { kind: "selector", message: "Service shop/db has a selector (app=db,tier=data): its endpoints belong to Kubernetes, so we write none" });
  });

  it("refuses an ExternalName Service", () => {
    const problem = serviceProblem(serviceWith({ type: "ExternalName", externalName: "db.example.com" }), PORTS);

    assert.deepEqual(problem, { kind: "externalName", message: "Service shop/db is of type ExternalName, which has no endpoints" });
  });

  it("refuses a port name mismatch, naming the missing port and the Service's ports", () => {
    const problem = serviceProblem(serviceWith({ ports: [{ name: "postgres", port: 5432 }, { name: "metrics", port: 9187 }] }), PORTS);

    assert.deepEqual(problem, { kind: "ports", message: 'Service shop/db has no port named "pg" (its ports: "postgres", "metrics"): endpoint port names must equal the Service\'s' });
  });

  it("refuses a Service with no ports at all", () => {
    const problem = serviceProblem(serviceWith({}), PORTS);

    assert.deepEqual(problem, { kind: "ports", message: 'Service shop/db has no port named "pg" (its ports: none): endpoint port names must equal the Service\'s' });
  });
});

describe("planTarget: ports of an endpoint's own, and draining endpoints", () => {
  /** Address → the slice port numbers it is published with. */
  const portsByAddress = (fake: InMemoryApiServer) =>
    Object.fromEntries(fake.slices().flatMap((slice) => sliceEndpoints(slice).map((address) => [address, (slice.ports ?? []).map((port) => port.port)])));
  const subsetsOf = (fake: InMemoryApiServer) =>
    (fake.endpoints("db")?.subsets ?? []).map((subset) => [subset.ports?.map((port) => port.port), [...(subset.addresses ?? []), ...(subset.notReadyAddresses ?? [])].map((address) => address.ip)]);

  it("gives endpoints with ports of their own slices of their own port set, and the Endpoints a subset per port set, then nothing", () => {
    const fake = new InMemoryApiServer();
    const desired = [endpoint("10.0.0.1"), endpoint("10.0.0.2", true, { port: 6432 }), endpoint("10.0.0.3", false, { port: 6432 }), endpoint("2001:db8::1", true, { port: 7432 })];

    const first = convergeAndAssertIdempotent(fake, scenario(desired));

    assert.deepEqual(summarize(first), ["create EndpointSlice db-ipv4-0", "create EndpointSlice db-ipv4-1", "create EndpointSlice db-ipv6-0", "create Endpoints db"]);
    assert.deepEqual(portsByAddress(fake), { "10.0.0.1": [5432], "10.0.0.2": [6432], "10.0.0.3": [6432], "2001:db8::1": [7432] });
    assert.deepEqual(fake.slices().find((slice) => slice.metadata?.name === "db-ipv4-1")?.ports, [{ name: "pg", port: 6432, protocol: "TCP" }]);
    assert.deepEqual(subsetsOf(fake), [[[5432], ["10.0.0.1"]], [[6432], ["10.0.0.2", "10.0.0.3"]], [[7432], ["2001:db8::1"]]]);
    assertPublishes(fake, desired);
  });

  it("moves an endpoint whose port changed to a slice of its new port set, reusing the slice it empties, then nothing", () => {
    const fake = new InMemoryApiServer();
    convergeAndAssertIdempotent(fake, scenario([endpoint("10.0.0.1"), endpoint("10.0.0.2", true, { port: 6432 })]));

    const changes = convergeAndAssertIdempotent(fake, scenario([endpoint("10.0.0.1"), endpoint("10.0.0.2", true, { port: 7432 })]));

    assert.deepEqual(summarize(changes), ["update EndpointSlice db-ipv4-1", "update Endpoints db"]);
    assert.deepEqual(changes.map((change) => change.endpoints), [[{ address: "10.0.0.2", change: "updated" }], [{ address: "10.0.0.2", change: "updated" }]]);
    assert.deepEqual(portsByAddress(fake), { "10.0.0.1": [5432], "10.0.0.2": [7432] });
  });

  it("takes a port of its own equal to the target's as the target's: one slice, and read back it changes nothing", () => {
    const fake = new InMemoryApiServer();

    const desired = [endpoint("10.0.0.1", true, { port: 5432 }), endpoint("10.0.0.2")];

    const first = convergeAndAssertIdempotent(fake, scenario(desired));

    assert.deepEqual(summarize(first), ["create EndpointSlice db-ipv4-0", "create Endpoints db"]);
    assertPublishes(fake, desired);
    assert.equal(fake.endpoints("db")?.subsets?.length, 1);
  });

  it("publishes a draining endpoint terminating and not ready, serving as its check says, and not ready in the Endpoints, then nothing", () => {
    const fake = new InMemoryApiServer();
    const draining = (serving: boolean) => endpoint("10.0.0.2", false, { serving, terminating: true });
    convergeAndAssertIdempotent(fake, scenario([endpoint("10.0.0.1"), endpoint("10.0.0.2")]));

    const stopping = convergeAndAssertIdempotent(fake, scenario([endpoint("10.0.0.1"), draining(true)]));
    const conditions = () => fake.slices()[0]!.endpoints!.find((entry) => entry.addresses[0] === "10.0.0.2")!.conditions;

    assert.deepEqual(stopping.map((change) => change.endpoints), [[{ address: "10.0.0.2", change: "notReady" }], [{ address: "10.0.0.2", change: "notReady" }]]);
    assert.deepEqual(conditions(), { ready: false, serving: true, terminating: true });
    assert.deepEqual(fake.endpoints("db")?.subsets?.[0]?.notReadyAddresses?.map((address) => address.ip), ["10.0.0.2"]);

    const failing = convergeAndAssertIdempotent(fake, scenario([endpoint("10.0.0.1"), draining(false)]));

    assert.deepEqual(summarize(failing), ["update EndpointSlice db-ipv4-0"], "the Endpoints cannot tell serving from not");
    assert.deepEqual(failing[0]?.endpoints, [{ address: "10.0.0.2", change: "updated" }]);
    assert.deepEqual(conditions(), { ready: false, serving: false, terminating: true });
  });

  it("a long sequence of random port and health changes converges after every step, packing slices again at most once", () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pool = [...manyEndpoints(25).map((entry) => entry.address), ...Array.from({ length: 10 }, (_, i) => `2001:db8::${(i + 1).toString(16)}`)];
    const portChoices = [undefined, 6432, 7432];
    const fake = new InMemoryApiServer();
    let state = new Map<string, { ready: boolean; port: number | undefined }>();
    let packs = 0;

    for (let step = 0; step < 30; step++) {
      const next = new Map(state);
      for (const address of pool) {
        const roll = random();
        if (roll < 0.1) next.delete(address);
        else if (roll < 0.25) next.set(address, { ready: random() < 0.7, port: portChoices[Math.floor(random() * 3)] });
      }
      state = next;
      const desired = [...state].map(([address, { ready, port }]) => endpoint(address, ready, port === undefined ? {} : { port }));

      packs += Number(converge(fake, scenario(desired, { maxEndpointsPerSlice: 4 })).packed);
      assertPublishes(fake, desired, { maxPerSlice: 4 });
      assert.deepEqual(portsByAddress(fake), Object.fromEntries(desired.map((entry) => [entry.address, [entry.port ?? 5432]])));
    }
    assert.ok(packs <= 10, `${packs} of 30 steps packed slices again`);
  });
});

describe("planTarget and writeOrder: a write cut short", () => {
  /** Object key → object, after `changes` are written over `objects`. */
  const written = (objects: Map<string, KubeObject>, changes: Change[]) => {
    const next = new Map(objects);
    for (const { action, object } of changes) {
      const key = `${object.kind} ${object.metadata?.name}`;
      if (action === "delete") next.delete(key);
      else next.set(key, object);
    }
    return next;
  };
  /** The addresses each kind of reader sees ready: in any of our slices, and in the Endpoints. */
  const readyViews = (objects: Map<string, KubeObject>) => {
    const slices = new Set<string>();
    const endpoints = new Set<string>();
    for (const object of objects.values()) {
      if (object.kind === "EndpointSlice") for (const entry of object.endpoints ?? []) if (entry.conditions?.ready ?? true) slices.add(entry.addresses[0]!);
      if (object.kind === "Endpoints") for (const subset of object.subsets ?? []) for (const address of subset.addresses ?? []) endpoints.add(address.ip);
    }
    return { slices, endpoints };
  };
  /** Every way a phase can end when one of its writes fails: any subset of it written (all of them, for small phases). */
  const cuts = (phase: Change[]): Change[][] =>
    phase.length <= 8
      ? Array.from({ length: 2 ** phase.length }, (_, mask) => phase.filter((_change, index) => mask & (1 << index)))
      : phase.flatMap((change) => [[change], phase.filter((other) => other !== change)]);

  it("never takes out an endpoint ready before and after, through random port moves, health changes and writes that fail", () => {
    let seed = 11;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const pool = manyEndpoints(10).map((entry) => entry.address);
    const portChoices = [undefined, 6432, 7432];
    const fake = new InMemoryApiServer();
    const state = new Map(pool.map((address) => [address, { ready: true, port: undefined as number | undefined }]));
    let cutRuns = 0;
    let moves = 0;
    let packs = 0;

    let desired: DesiredEndpoint[] = [];
    let settled = true;
    for (let step = 0; step < 150; step++) {
      // A step whose full write left slices to pack plans the same endpoints again, and that plan is cut too.
      if (settled) {
        for (const address of pool) {
          const roll = random();
          if (roll < 0.15) state.set(address, { ...state.get(address)!, port: portChoices[Math.floor(random() * 3)] });
          else if (roll < 0.3) state.set(address, { ...state.get(address)!, ready: random() < 0.6 });
        }
        desired = [...state].map(([address, { ready, port }]) => endpoint(address, ready, port === undefined ? {} : { port }));
      }
      const changes = planOverFake(fake, scenario(desired, { maxEndpointsPerSlice: 3 }));
      moves += changes.filter((change) => change.endpoints.some((entry) => entry.change === "added")).length;
      const objects = new Map([...fake.slices().map((slice) => ({ ...slice, kind: "EndpointSlice" }) as KubeObject), ...[fake.endpoints("db")].filter((item) => item !== undefined).map((item) => ({ ...item, kind: "Endpoints" }) as KubeObject)].map((object) => [`${object.kind} ${object.metadata?.name}`, object]));
      const before = readyViews(objects);
      const stay = new Set(desired.filter((entry) => entry.ready).map((entry) => entry.address));

      const phases = writeOrder(changes);
      let done = objects;
      let cutShort: Change[] | undefined;
      for (const phase of phases) {
        for (const cut of cuts(phase)) {
          const after = readyViews(written(done, cut));
          for (const view of ["slices", "endpoints"] as const) {
            const lost = [...before[view]].filter((address) => stay.has(address) && !after[view].has(address));
            assert.deepEqual(lost, [], `step ${step}, ${view}: ready before and after, but not after writing ${summarize(cut).join(", ") || "nothing"} of ${summarize(phase).join(", ")}`);
          }
          if (!cutShort && cut.length < phase.length && random() < 0.05) cutShort = [...phases.slice(0, phases.indexOf(phase)).flat(), ...cut];
        }
        done = written(done, phase);
      }
      // Now and then the run really stops there, and the next plan starts from what the cut left.
      if (cutShort) {
        applyToFake(fake, cutShort);
        cutRuns++;
        settled = true;
      } else {
        applyToFake(fake, changes);
        settled = planOverFake(fake, scenario(desired, { maxEndpointsPerSlice: 3 })).length === 0;
        packs += Number(!settled);
        assertPublishes(fake, desired, { maxPerSlice: 3 });
      }
    }
    assert.ok(cutRuns > 10 && moves > 50 && packs > 0, `cut runs ${cutRuns}, changes that add an endpoint ${moves}, plans that packed slices again ${packs}`);
  });
});

describe("sameData", () => {
  const cases: [string, unknown, unknown, boolean][] = [
    ["key order", { a: 1, b: { c: [1, 2] } }, { b: { c: [1, 2] }, a: 1 }, true],
    ["an undefined field against a missing one", { a: 1, b: undefined }, { a: 1 }, true],
    ["a missing field against a set one", { a: 1 }, { a: 1, b: 2 }, false],
    ["a nested difference", { a: { b: [{ c: "x" }] } }, { a: { b: [{ c: "y" }] } }, false],
    ["array order", [1, 2], [2, 1], false],
    ["array length", [1], [1, 1], false],
    ["an array against an object", [], {}, false],
    ["null against an object", null, {}, false],
    ["a number against its text", 1, "1", false],
  ];
  for (const [what, a, b, same] of cases) {
    it(`${what}: ${same ? "same" : "different"}, as canonical texts compare`, () => {
      assert.equal(sameData(a, b), same);
      assert.equal(sameData(b, a), same);
      assert.equal(canonical(a) === canonical(b), same);
    });
  }
});
