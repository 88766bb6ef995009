// The whole decision chain of one target as one pure call (decideTarget): source health, rise/fall, verdicts to
// endpoints, failed sources, checker errors and every guard, each shown with the smallest input that shows it.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decideTarget, type TargetDecisionInput } from "../../functions/decide/decide-target.ts";
import { checkerCutOff, tallyProbes } from "../../functions/decide/guards.ts";
import type { BackendHealth, TargetMemory } from "../../functions/decide/memory.ts";
import type { Backend, DesiredEndpoint, Verdict } from "../../functions/model.ts";
import type { GuardsConfig } from "../../functions/config/schema.ts";

const NOW = new Date("2026-11-30T10:00:00Z");
const A = "10.0.0.1";
const B = "10.0.0.2";

const backend = (address: string, extra: Partial<Backend> = {}): Backend => ({ address, family: "IPv4", sources: ["racks"], ...extra });
const endpoint = (address: string, ready: boolean): DesiredEndpoint => ({ address, family: "IPv4", ready });
const pass: Verdict = { status: "pass", reason: "Passed", latencyMs: 1 };
const fail: Verdict = { status: "fail", reason: "Timeout", latencyMs: 1000 };
const checkerError: Verdict = { status: "unknown", reason: "CheckerError", latencyMs: 0, detail: "EMFILE" };
const notChecked: Verdict = { status: "pass", reason: "NotChecked", latencyMs: 0 };
const health = (healthy: boolean, streak = 0, probedAt = NOW.toISOString()): BackendHealth => ({
  healthy,
  streak,
  reason: healthy ? "Passed" : "Timeout",
  since: "2026-11-30T09:00:00Z",
  probedAt,
});
const remembered = (records: Record<string, BackendHealth | undefined>): TargetMemory => ({
  backends: Object.fromEntries(Object.entries(records).map(([address, record]) => [address, record ? { sources: ["racks"], health: record } : { sources: ["racks"] }])),
});
const DEFAULT_GUARDS: GuardsConfig = { belowMinHealthy: "keepPrevious", neverEmpty: true };

function decide(overrides: Partial<TargetDecisionInput> & { guards?: Partial<GuardsConfig>; rise?: number; fall?: number; failing?: "notReady" | "drop" }) {
  const { guards, rise, fall, failing, ...rest } = overrides;
  const decision = decideTarget({
    backends: [],
    refused: 0,
    failedSources: [],
    probed: new Map(),
    published: [],
    memory: { backends: {} },
    target: { rise: rise ?? 2, fall: fall ?? 2, failing: failing ?? "notReady", guards: { ...DEFAULT_GUARDS, ...guards } },
    now: NOW,
    staleAfterMs: 180_000,
    ...rest,
  });
  const state = (ready: boolean) => decision.endpoints.filter((item) => item.ready === ready).map((item) => item.address).sort();
  return { ready: state(true), notReady: state(false), guards: decision.trips.map((trip) => trip.guard), kept: decision.kept.map((item) => item.address), decision };
}

interface Case {
  name: string;
  input: Parameters<typeof decide>[0];
  ready: string[];
  notReady?: string[];
  guards?: string[];
  kept?: string[];
}

const cases: Case[] = [
  // Rise and fall.
  { name: "a new backend that passes is ready at once", input: { backends: [backend(A)], probed: new Map([[A, pass]]) }, ready: [A] },
  {
    name: "a new backend that fails is not ready at once",
    input: { backends: [backend(A)], probed: new Map([[A, fail]]), guards: { neverEmpty: false } },
    ready: [],
    notReady: [A],
  },
  {
    name: "a healthy backend's first failure (fall 2) leaves it ready",
    input: { backends: [backend(A)], probed: new Map([[A, fail]]), published: [endpoint(A, true)], memory: remembered({ [A]: health(true) }) },
    ready: [A],
  },
  {
    name: "its second failure in a row (fall 2) turns it not ready",
    input: { backends: [backend(A), backend(B)], probed: new Map([[A, fail], [B, pass]]), published: [endpoint(A, true), endpoint(B, true)], memory: remembered({ [A]: health(true, 1), [B]: health(true) }) },
    ready: [B],
    notReady: [A],
  },
  {
    name: "a streak older than the stale limit restarts: the failure counts as the first",
    input: {
      backends: [backend(A)],
      probed: new Map([[A, fail]]),
      published: [endpoint(A, true)],
      memory: remembered({ [A]: health(true, 1, "2026-11-30T09:50:00Z") }),
    },
    ready: [A],
  },
  {
    name: "a not-ready backend's first pass (rise 2) leaves it not ready",
    input: { backends: [backend(A)], probed: new Map([[A, pass]]), published: [endpoint(A, false)], memory: remembered({ [A]: health(false) }) },
    ready: [],
    notReady: [A],
  },
  {
    name: "its second pass in a row (rise 2) turns it ready",
    input: { backends: [backend(A)], probed: new Map([[A, pass]]), published: [endpoint(A, false)], memory: remembered({ [A]: health(false, 1) }) },
    ready: [A],
  },
  {
    name: "failing: drop leaves a failing backend out",
    input: { backends: [backend(A), backend(B)], probed: new Map([[A, fail], [B, pass]]), failing: "drop" },
    ready: [B],
  },
  // What the checker and the sources cannot know.
  {
    name: "a checker error keeps a published backend as it was",
    input: { backends: [backend(A)], probed: new Map([[A, checkerError]]), published: [endpoint(A, true)], memory: remembered({ [A]: health(true) }) },
    ready: [A],
    kept: [A],
  },
  { name: "check: none publishes every backend ready", input: { backends: [backend(A)], probed: new Map([[A, notChecked]]) }, ready: [A] },
  {
    name: "a source's own health signal keeps a passing backend from ready at once",
    input: { backends: [backend(A, { unhealthy: "Route 53 health check 1 unhealthy" })], probed: new Map([[A, pass]]), guards: { neverEmpty: false } },
    ready: [],
    notReady: [A],
  },
  {
    name: "failedSource: a failed source keeps the endpoints it published",
    input: { failedSources: ["racks"], published: [endpoint(A, true)], memory: remembered({ [A]: health(true) }) },
    ready: [A],
    guards: ["failedSource"],
    kept: [A],
  },
  // neverEmpty.
  {
    name: "neverEmpty: the last ready backend failing keeps the published set",
    input: { backends: [backend(A)], probed: new Map([[A, fail]]), published: [endpoint(A, true)], memory: remembered({ [A]: health(true, 1) }) },
    ready: [A],
    guards: ["neverEmpty"],
  },
  {
    name: "neverEmpty off: the last ready backend failing goes not ready",
    input: { backends: [backend(A)], probed: new Map([[A, fail]]), published: [endpoint(A, true)], memory: remembered({ [A]: health(true, 1) }), guards: { neverEmpty: false } },
    ready: [],
    notReady: [A],
  },
  {
    name: "neverEmpty: every source answering with nothing is the one way to an empty set",
    input: { published: [endpoint(A, true)], memory: remembered({ [A]: health(true) }) },
    ready: [],
  },
  {
    name: "neverEmpty: sources that answered only with refused addresses (0.0.0.0, 127.0.0.1) did not say there are none",
    input: { refused: 2, published: [endpoint(A, true)], memory: remembered({ [A]: health(true) }) },
    ready: [A],
    guards: ["neverEmpty"],
  },
  // minHealthy.
  {
    name: "minHealthy 2 with one healthy keeps the published set",
    input: {
      backends: [backend(A), backend(B)],
      probed: new Map([[A, pass], [B, fail]]),
      published: [endpoint(A, true), endpoint(B, true)],
      memory: remembered({ [A]: health(true), [B]: health(true, 1) }),
      guards: { minHealthy: 2 },
    },
    ready: [A, B],
    guards: ["minHealthy"],
  },
  {
    name: "minHealthy 2 with publishAll publishes every backend ready (panic mode)",
    input: { backends: [backend(A), backend(B)], probed: new Map([[A, pass], [B, fail]]), guards: { minHealthy: 2, belowMinHealthy: "publishAll" } },
    ready: [A, B],
    guards: ["minHealthy"],
  },
  // maxRemovalsPerRun.
  {
    name: "maxRemovalsPerRun 1: of two ready backends turning not ready, one stays ready this run",
    input: {
      backends: [backend(A), backend(B), backend("10.0.0.3")],
      probed: new Map([[A, fail], [B, fail], ["10.0.0.3", pass]]),
      published: [endpoint(A, true), endpoint(B, true), endpoint("10.0.0.3", true)],
      memory: remembered({ [A]: health(true, 1), [B]: health(true, 1), "10.0.0.3": health(true) }),
      guards: { maxRemovalsPerRun: 1 },
    },
    ready: [B, "10.0.0.3"],
    notReady: [A],
    guards: ["maxRemovalsPerRun"],
  },
];

describe("decideTarget: the whole chain, smallest inputs", () => {
  for (const { name, input, ready, notReady = [], guards = [], kept = [] } of cases) {
    it(name, () => {
      const result = decide(input);
      assert.deepEqual(result.ready, ready, "ready");
      assert.deepEqual(result.notReady, notReady, "not ready");
      assert.deepEqual(result.guards, guards, "guards");
      assert.deepEqual(result.kept, kept, "kept");
    });
  }

  it("maxRemovalsPerRun holds slice readers and Endpoints readers each to their own cap when a failed write left them apart", () => {
    const [a, b, c, d, e, f] = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"];
    const slices = [a, b, c, d].map((address) => endpoint(address, true));
    // The last run's slice write took e and f out; its Endpoints write failed.
    const endpointsView = [a, b, c, d, e, f].map((address) => endpoint(address, true));
    const result = decide({
      backends: [backend(a)],
      probed: new Map([[a, pass]]),
      published: endpointsView,
      views: [slices, endpointsView],
      memory: remembered({ [a]: health(true) }),
      guards: { maxRemovalsPerRun: "50%" },
    });
    const removedFrom = (view: DesiredEndpoint[]) => view.filter((item) => !result.ready.includes(item.address)).length;
    assert.ok(removedFrom(slices) <= 2, `slice readers lost ${removedFrom(slices)} of 4`);
    assert.ok(removedFrom(endpointsView) <= 3, `Endpoints readers lost ${removedFrom(endpointsView)} of 6`);
    assert.deepEqual(result.guards, ["maxRemovalsPerRun"]);
  });

  it("remembers the guards that held the decision back, and forgets them when none did", () => {
    const held = decide({ backends: [backend(A)], probed: new Map([[A, fail]]), published: [endpoint(A, true)], memory: remembered({ [A]: health(true, 1) }) });
    assert.deepEqual(held.decision.memory.trippedGuards, ["neverEmpty"]);

    const clear = decide({ backends: [backend(A)], probed: new Map([[A, pass]]), memory: { ...remembered({ [A]: health(true) }), trippedGuards: ["neverEmpty"] } });
    assert.equal(clear.decision.memory.trippedGuards, undefined);
  });
});

describe("checker self-check over targets' probes", () => {
  const tally = (...verdicts: Verdict[]) => tallyProbes(verdicts);

  it("one target, one black-holed backend: no trip (that target's guards weigh it)", () => {
    assert.equal(checkerCutOff({ tallies: [tally(fail)], minBackends: 4 }), undefined);
  });

  it("check: none beside a dead target: no trip, only one target was probed", () => {
    assert.equal(checkerCutOff({ tallies: [tally(notChecked, notChecked), tally(fail, fail, fail, fail)], minBackends: 4 }), undefined);
  });

  it("two dead targets with enough backends between them: trips", () => {
    assert.equal(checkerCutOff({ tallies: [tally(fail, fail), tally(fail, fail)], minBackends: 4 }), "all 4 probed backends of 2 targets went unanswered");
  });
});
