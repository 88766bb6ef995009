// Rise/fall across runs (decide/hysteresis.ts), the guards over a finished decision and the checker
// self-check (decide/guards.ts): pure, table-driven.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { applyGuards, checkerCutOff, tallyProbes, type GuardInput } from "../../functions/decide/guards.ts";
import { applyHysteresis, type HysteresisInput } from "../../functions/decide/hysteresis.ts";
import { timedOutLastRun, type BackendHealth } from "../../functions/decide/memory.ts";
import type { DesiredEndpoint, Verdict } from "../../functions/model.ts";

const NOW = new Date("2026-11-26T12:00:00Z");
const MINUTE = 60_000;
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
const pass: Verdict = { status: "pass", reason: "Passed", latencyMs: 2 };
const fail: Verdict = { status: "fail", reason: "ConnRefused", latencyMs: 1, detail: "ECONNREFUSED" };

function run(verdict: Verdict | undefined, before: BackendHealth | undefined, overrides: Partial<HysteresisInput> = {}) {
  const result = applyHysteresis({
    backends: [{ address: "10.0.0.1", family: "IPv4", sources: ["s"] }],
    verdicts: new Map(verdict ? [["10.0.0.1", verdict]] : []),
    memory: { backends: before ? { "10.0.0.1": { sources: ["s"], health: before } } : {} },
    rise: 2,
    fall: 3,
    now: NOW,
    staleAfterMs: 3 * MINUTE,
    ...overrides,
  });
  return { healthy: result.healthy.get("10.0.0.1"), health: result.health.get("10.0.0.1") };
}

const record = (healthy: boolean, streak: number, extra: Partial<BackendHealth> = {}): BackendHealth => ({
  healthy,
  streak,
  reason: healthy === (streak === 0) ? "Passed" : "ConnRefused",
  ...(healthy !== (streak === 0) && { detail: "ECONNREFUSED" }),
  since: ago(10 * MINUTE),
  probedAt: ago(MINUTE),
  ...extra,
});

describe("applyHysteresis", () => {
  const cases: { name: string; verdict: Verdict; before?: BackendHealth; healthy: boolean; streak: number; changed: boolean }[] = [
    { name: "a new backend that passes is healthy at once", verdict: pass, healthy: true, streak: 0, changed: true },
    { name: "a new backend that fails is not healthy at once", verdict: fail, healthy: false, streak: 0, changed: true },
    { name: "a steady healthy backend changes nothing", verdict: pass, before: record(true, 0), healthy: true, streak: 0, changed: false },
    { name: "a first failure only starts the streak", verdict: fail, before: record(true, 0), healthy: true, streak: 1, changed: true },
    { name: "the fall-th failure in a row turns it unhealthy", verdict: fail, before: record(true, 2), healthy: false, streak: 0, changed: true },
    { name: "a pass in between restarts the count", verdict: pass, before: record(true, 2), healthy: true, streak: 0, changed: true },
    { name: "the rise-th pass in a row turns it healthy", verdict: pass, before: record(false, 1), healthy: true, streak: 0, changed: true },
    { name: "a steady unhealthy backend with the same reason changes nothing", verdict: fail, before: record(false, 0), healthy: false, streak: 0, changed: false },
    { name: "a streak older than 3 intervals restarts", verdict: fail, before: record(true, 2, { probedAt: ago(4 * MINUTE) }), healthy: true, streak: 1, changed: true },
  ];
  for (const { name, verdict, before, healthy, streak, changed } of cases) {
    it(name, () => {
      const result = run(verdict, before);
      assert.equal(result.healthy, healthy);
      assert.equal(result.health?.streak, streak);
      assert.equal(result.health?.reason, verdict.reason);
      if (changed) assert.equal(result.health?.probedAt, NOW.toISOString());
      else assert.equal(result.health, before, "the very same record: storing it writes nothing");
    });
  }

  it("stamps since when healthy flips, and keeps the failure's detail", () => {
    const result = run(fail, record(true, 2));
    assert.deepEqual(result.health, { healthy: false, streak: 0, reason: "ConnRefused", detail: "ECONNREFUSED", since: NOW.toISOString(), probedAt: NOW.toISOString() });
  });

  it("takes a checker error as no observation, and keeps no record for an unchecked backend", () => {
    const before = record(true, 1);
    assert.deepEqual(run({ status: "unknown", reason: "CheckerError", latencyMs: 0 }, before), { healthy: undefined, health: before });
    assert.deepEqual(run({ status: "pass", reason: "NotChecked", latencyMs: 0 }, undefined), { healthy: true, health: undefined });
  });

  it("with rise 1 and fall 1 follows every verdict", () => {
    assert.equal(run(fail, record(true, 0), { rise: 1, fall: 1 }).healthy, false);
    assert.equal(run(pass, record(false, 0), { rise: 1, fall: 1 }).healthy, true);
  });
});

const endpoint = (address: string, ready: boolean): DesiredEndpoint => ({ address, family: "IPv4", ready });

function guards(overrides: Partial<GuardInput>) {
  return applyGuards({
    endpoints: [],
    dropped: 0,
    published: [],
    allHealthy: () => [],
    failedSources: [],
    keptForFailedSources: 0,
    sourcesAnsweredEmpty: false,
    config: { belowMinHealthy: "keepPrevious", neverEmpty: true },
    ...overrides,
  });
}

describe("applyGuards", () => {
  const published = [endpoint("10.0.0.1", true), endpoint("10.0.0.2", true), endpoint("10.0.0.3", true), endpoint("10.0.0.4", true)];

  it("lets a healthy decision through untouched", () => {
    const decided = [endpoint("10.0.0.1", true), endpoint("10.0.0.2", false)];
    assert.deepEqual(guards({ endpoints: decided, published }), { endpoints: decided, trips: [] });
  });

  it("neverEmpty keeps the published set when nothing would be ready", () => {
    const result = guards({ endpoints: published.map((item) => ({ ...item, ready: false })), published });
    assert.deepEqual(result.endpoints, published);
    assert.deepEqual(result.trips.map((trip) => trip.guard), ["neverEmpty"]);
  });

  it("neverEmpty lets the set go empty when every source answered that there is nothing", () => {
    assert.deepEqual(guards({ endpoints: [], published, sourcesAnsweredEmpty: true }), { endpoints: [], trips: [] });
  });

  it("minHealthy as a percentage keeps the previous set, or publishes all under publishAll", () => {
    const decided = [endpoint("10.0.0.1", true), endpoint("10.0.0.2", false), endpoint("10.0.0.3", false), endpoint("10.0.0.4", false)];
    const kept = guards({ endpoints: decided, published, config: { minHealthy: "50%", belowMinHealthy: "keepPrevious", neverEmpty: true } });
    assert.deepEqual(kept.endpoints, published);
    assert.match(kept.trips[0]!.detail, /1 of 4 backends healthy, fewer than minHealthy 50% \(2\)/);
    const all = decided.map((item) => ({ ...item, ready: true }));
    const panic = guards({ endpoints: decided, published, allHealthy: () => all, config: { minHealthy: "50%", belowMinHealthy: "publishAll", neverEmpty: true } });
    assert.deepEqual(panic.endpoints, all);
  });

  it("maxRemovalsPerRun lets failing endpoints go first, then those no source finds, by address", () => {
    // 10.0.0.1 gone from the sources, 10.0.0.3 and 10.0.0.4 failing: with a cap of 2, the failing ones go.
    const decided = [endpoint("10.0.0.2", true), endpoint("10.0.0.3", false), endpoint("10.0.0.4", false)];
    const result = guards({ endpoints: decided, published, config: { maxRemovalsPerRun: 2, belowMinHealthy: "keepPrevious", neverEmpty: true } });
    assert.deepEqual(result.endpoints.filter((item) => item.ready).map((item) => item.address).sort(), ["10.0.0.1", "10.0.0.2"]);
    assert.deepEqual(result.trips.map((trip) => trip.guard), ["maxRemovalsPerRun"]);
  });

  it("maxRemovalsPerRun as a percentage rounds up, so some progress is always made", () => {
    const decided = published.map((item) => ({ ...item, ready: item.address === "10.0.0.1" }));
    const result = guards({ endpoints: decided, published, config: { maxRemovalsPerRun: "10%", belowMinHealthy: "keepPrevious", neverEmpty: true } });
    assert.equal(result.endpoints.filter((item) => !item.ready).length, 1);
  });

  it("reports the endpoints a failed source kept", () => {
    const result = guards({ endpoints: published, published, failedSources: ["dns"], keptForFailedSources: 2 });
    assert.deepEqual(result.trips, [{ guard: "failedSource", detail: "source dns failed: kept the 2 endpoints it published" }]);
  });
});

describe("checker self-check", () => {
  const verdict = (reason: Verdict["reason"]): Verdict => ({ status: reason === "Passed" ? "pass" : "fail", reason, latencyMs: 1 });
  const tally = (...reasons: Verdict["reason"][]) => tallyProbes(reasons.map(verdict));
  const cutOff = (tallies: ReturnType<typeof tallyProbes>[], minBackends = 4) => checkerCutOff({ tallies, minBackends });

  it("trips when every probed backend of two targets or more, at least minBackends, went unanswered", () => {
    assert.equal(cutOff([tally("Timeout", "Unreachable"), tally("Timeout", "Timeout")]), "all 4 probed backends of 2 targets went unanswered");
    assert.equal(cutOff([tally("Timeout", "Unreachable"), tally("Timeout", "ConnRefused")]), undefined, "a refusal is an answer");
    assert.equal(cutOff([tally("Timeout", "Unreachable"), tally("Timeout", "Passed")]), undefined);
  });

  it("never trips on one target alone, however many of its backends went unanswered", () => {
    assert.equal(cutOff([tally("Timeout")]), undefined, "one target with one black-holed backend");
    assert.equal(cutOff([tally(...Array<Verdict["reason"]>(50).fill("Timeout"))]), undefined);
  });

  it("never trips on fewer than minBackends probed backends", () => {
    assert.equal(cutOff([tally("Timeout"), tally("Timeout")]), undefined);
    assert.equal(cutOff([tally("Timeout"), tally("Timeout")], 2), "all 2 probed backends of 2 targets went unanswered");
  });

  it("leaves out unchecked backends and targets, and never trips on nothing probed", () => {
    const unchecked = tallyProbes([{ status: "pass", reason: "NotChecked", latencyMs: 0 }]);
    assert.deepEqual(unchecked, { probed: 0, unanswered: 0 });
    assert.equal(cutOff([unchecked, unchecked]), undefined);
    assert.equal(cutOff([unchecked, tally("Timeout", "Timeout", "Timeout", "Timeout")]), undefined, "only one target was probed");
  });

  it("a canary the config names decides alone", () => {
    const dark = [tally("Timeout", "Timeout"), tally("Timeout", "Timeout")];
    assert.equal(checkerCutOff({ tallies: dark, minBackends: 4, canary: { name: "198.18.0.1:22", verdict: verdict("ConnRefused") } }), undefined);
    assert.equal(
      checkerCutOff({ tallies: [tally("Passed")], minBackends: 4, canary: { name: "198.18.0.1:22", verdict: verdict("Timeout") } }),
      "the canary 198.18.0.1:22 went unanswered (Timeout)",
    );
  });
});

describe("timedOutLastRun", () => {
  it("lists the backends whose last probe timed out, whether or not they are still healthy", () => {
    const memory = {
      backends: {
        "10.0.0.1": { sources: ["s"], health: record(false, 0, { reason: "Timeout" }) },
        "10.0.0.2": { sources: ["s"], health: record(true, 1, { reason: "Timeout" }) },
        "10.0.0.3": { sources: ["s"], health: record(false, 0, { reason: "ConnRefused" }) },
        "10.0.0.4": { sources: ["s"] },
      },
    };
    assert.deepEqual([...timedOutLastRun(memory)].sort(), ["10.0.0.1", "10.0.0.2"]);
  });
});
