import type { TargetConfig } from "../config/schema.ts";
import type { Backend, DesiredEndpoint, Verdict } from "../model.ts";
import { decideEndpoints, type KeptEndpoint } from "./desired.ts";
import { applyGuards, type GuardTrip } from "./guards.ts";
import { applyHysteresis, type HysteresisResult } from "./hysteresis.ts";
import type { TargetMemory } from "./memory.ts";
import { withSourceHealth } from "./source-health.ts";

export interface TargetDecisionInput {
  /** The backends the sources found, merged, our address filter passed. */
  backends: Backend[];
  /** Addresses the sources found that our filter refused: found, though never published. */
  refused: number;
  failedSources: string[];
  /** Our probes' verdicts. */
  probed: Map<string, Verdict>;
  /** What is published now (ours, or adopted): the slices with the Endpoints laid over them. */
  published: DesiredEndpoint[];
  /** The slices' and the Endpoints' own views, where they differ: each kind of reader is held to the removal cap. */
  views?: DesiredEndpoint[][];
  /** What the last run stored. */
  memory: TargetMemory;
  target: Pick<TargetConfig, "rise" | "fall" | "failing" | "guards">;
  /** The round's start: hysteresis stamps and ages records with it. */
  now: Date;
  /** A streak whose last probe is older than this restarts. */
  staleAfterMs: number;
}

export interface TargetDecision {
  /** Our verdicts with each source's own health signal. */
  verdicts: Map<string, Verdict>;
  hysteresis: HysteresisResult;
  /** What to publish, after the guards. */
  endpoints: DesiredEndpoint[];
  kept: KeptEndpoint[];
  dropped: string[];
  trips: GuardTrip[];
  /** What to store for the next run. */
  memory: TargetMemory;
}

/**
 * Pure: the whole decision for one target, from what was found and probed to what to publish and remember:
 * source health, rise/fall, verdicts to endpoints (failed sources and checker errors keep what is published),
 * then the guards.
 */
export function decideTarget(input: TargetDecisionInput): TargetDecision {
  const { backends, failedSources, published, target } = input;
  // A source's own health signal keeps a backend from ready at once (decideEndpoints): Route 53 counts its
  // own failures, so our rise/fall streaks count only our probes.
  const verdicts = withSourceHealth(backends, input.probed);
  const hysteresis = applyHysteresis({
    backends,
    verdicts: input.probed,
    memory: input.memory,
    rise: target.rise,
    fall: target.fall,
    now: input.now,
    staleAfterMs: input.staleAfterMs,
  });
  const decideInput = { backends, verdicts, hysteresis, failedSources, published, failing: target.failing, memory: input.memory };
  const decision = decideEndpoints(decideInput);
  const found = new Set(backends.map((backend) => backend.address));
  const guarded = applyGuards({
    endpoints: decision.endpoints,
    dropped: decision.dropped.length,
    published,
    ...(input.views && { views: input.views }),
    allHealthy: () => decideEndpoints({ ...decideInput, hysteresis: { ...hysteresis, healthy: new Map([...found].map((address) => [address, true])) } }).endpoints,
    failedSources,
    keptForFailedSources: decision.kept.filter((kept) => !found.has(kept.address)).length,
    // Addresses our filter refused were still found: a source answering 0.0.0.0 has not said "no backends".
    sourcesAnsweredEmpty: failedSources.length === 0 && backends.length === 0 && input.refused === 0,
    config: target.guards,
  });
  return {
    verdicts,
    hysteresis,
    endpoints: guarded.endpoints,
    kept: decision.kept,
    dropped: decision.dropped,
    trips: guarded.trips,
    memory: withTrippedGuards(decision.memory, guarded.trips),
  };
}

/** The guards that held back this decision, remembered so an Event marks when that starts and ends. */
export function withTrippedGuards(memory: TargetMemory, trips: GuardTrip[]): TargetMemory {
  const names = [...new Set(trips.map((trip) => trip.guard))].sort();
  const { trippedGuards: _previous, ...rest } = memory;
  return names.length > 0 ? { ...rest, trippedGuards: names } : rest;
}
