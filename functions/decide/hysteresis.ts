import type { Backend, Verdict } from "../model.ts";
import type { BackendHealth, TargetMemory } from "./memory.ts";

export interface HysteresisInput {
  backends: Backend[];
  /** This run's verdicts, after the in-run re-check. */
  verdicts: Map<string, Verdict>;
  /** What the last run stored. */
  memory: TargetMemory;
  /** Passing runs in a row that make a not-healthy backend healthy. */
  rise: number;
  /** Failing runs in a row that make a healthy backend not healthy. */
  fall: number;
  now: Date;
  /** A streak whose last probe is older than this restarts (3 sync intervals). */
  staleAfterMs: number;
}

export interface HysteresisResult {
  /** Whether each backend with a pass or fail verdict is healthy now (an unchecked one always is). */
  healthy: Map<string, boolean>;
  /** What to store for each backend that has a health record; unchanged records are the very same objects. */
  health: Map<string, BackendHealth>;
}

/**
 * Pure: rise/fall across runs, as AWS target groups count them. A backend seen for the first time takes its
 * first verdict (one pass publishes it ready). A checker error is no observation: the record stays as it was.
 * Unchecked backends (`check: none`) are healthy and have no record.
 */
export function applyHysteresis(input: HysteresisInput): HysteresisResult {
  const healthy = new Map<string, boolean>();
  const health = new Map<string, BackendHealth>();
  const now = input.now.toISOString();
  for (const { address } of input.backends) {
    const before = input.memory.backends[address]?.health;
    const verdict = input.verdicts.get(address);
    if (verdict?.reason === "NotChecked") {
      healthy.set(address, true);
      continue;
    }
    if (verdict === undefined || verdict.status === "unknown") {
      if (before) health.set(address, before);
      continue;
    }
    const passing = verdict.status === "pass";
    // Steady, and the same verdict as last run: the record as it was (what the general case below would find).
    if (before && passing === before.healthy && before.streak === 0 && before.reason === verdict.reason && before.detail === (verdict.status === "fail" ? verdict.detail : undefined)) {
      health.set(address, before);
      healthy.set(address, before.healthy);
      continue;
    }
    const next = before ? observe(before, passing, input, now) : { healthy: passing, streak: 0, since: now };
    const record: BackendHealth = {
      ...next,
      reason: verdict.reason,
      ...(verdict.status === "fail" && verdict.detail !== undefined && { detail: verdict.detail }),
      probedAt: before?.probedAt ?? now,
    };
    // A record that says nothing new keeps its old probe time, so storing it again writes nothing.
    const changed = !before || !sameHealth(before, record);
    health.set(address, changed ? { ...record, probedAt: now } : before);
    healthy.set(address, record.healthy);
  }
  return { healthy, health };
}

function observe(before: BackendHealth, passing: boolean, input: HysteresisInput, now: string): Pick<BackendHealth, "healthy" | "streak" | "since"> {
  if (passing === before.healthy) return { healthy: before.healthy, streak: 0, since: before.since };
  // Runs stopped for a while (or kept failing to store): an old streak says nothing about now.
  const stale = input.now.getTime() - Date.parse(before.probedAt) > input.staleAfterMs;
  const streak = (stale ? 0 : before.streak) + 1;
  const threshold = before.healthy ? input.fall : input.rise;
  return streak >= threshold ? { healthy: passing, streak: 0, since: now } : { healthy: before.healthy, streak, since: before.since };
}

function sameHealth(a: BackendHealth, b: BackendHealth): boolean {
  return a.healthy === b.healthy && a.streak === b.streak && a.reason === b.reason && a.detail === b.detail && a.since === b.since;
}
