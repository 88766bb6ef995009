import type { GuardsConfig } from "../config/schema.ts";
import type { DesiredEndpoint, Verdict } from "../model.ts";
import { compareAddresses } from "./addresses.ts";

export type GuardName = "failedSource" | "minHealthy" | "neverEmpty" | "maxRemovalsPerRun" | "checkerSelfCheck";

/** A guard that changed what is published (or stopped the writing), and what it did. */
export interface GuardTrip {
  guard: GuardName;
  detail: string;
}

export interface GuardInput {
  /** What the verdicts and hysteresis would publish. */
  endpoints: DesiredEndpoint[];
  /** Failing backends left out under `failing: drop`: they count among the backends found. */
  dropped: number;
  /** What is published now. */
  published: DesiredEndpoint[];
  /**
   * What each kind of reader sees published now (our slices, our Endpoints), where a failed write left them
   * apart: maxRemovalsPerRun holds each to its own cap. Default: `published` alone.
   */
  views?: DesiredEndpoint[][];
  /** The same backends with every one taken as healthy: Envoy's panic mode. */
  allHealthy: () => DesiredEndpoint[];
  failedSources: string[];
  /** Published endpoints kept because the source that found them failed. */
  keptForFailedSources: number;
  /** Every source answered, and none found a backend: the only way to an empty set. */
  sourcesAnsweredEmpty: boolean;
  config: GuardsConfig;
}

/**
 * Pure: the guards, in order, over a finished decision. Each trip is reported. minHealthy and neverEmpty
 * publish the previous set as it is (or, with `belowMinHealthy: publishAll`, every backend ready);
 * maxRemovalsPerRun keeps the excess ready until a later run.
 */
export function applyGuards(input: GuardInput): { endpoints: DesiredEndpoint[]; trips: GuardTrip[] } {
  const trips: GuardTrip[] = [];
  let endpoints = input.endpoints;
  const { config, published } = input;
  const readyIn = (list: DesiredEndpoint[]) => list.filter((endpoint) => endpoint.ready).length;
  const publishedReady = readyIn(published);
  const previousSet = `kept the published set (${published.length} endpoints, ${publishedReady} ready)`;

  if (input.failedSources.length > 0 && input.keptForFailedSources > 0) {
    trips.push({ guard: "failedSource", detail: `source ${input.failedSources.join(", ")} failed: kept the ${input.keptForFailedSources} endpoints it published` });
  }

  const found = endpoints.length + input.dropped;
  const healthy = readyIn(endpoints);
  if (config.minHealthy !== undefined) {
    const minimum = amountOf(config.minHealthy, found);
    if (healthy < minimum) {
      const why = `${healthy} of ${found} backends healthy, fewer than minHealthy ${config.minHealthy} (${minimum})`;
      if (config.belowMinHealthy === "publishAll") {
        endpoints = input.allHealthy();
        trips.push({ guard: "minHealthy", detail: `${why}: published all ${endpoints.length} ready (panic mode)` });
      } else {
        endpoints = published;
        trips.push({ guard: "minHealthy", detail: `${why}: ${previousSet}` });
      }
    }
  }

  if (config.neverEmpty && readyIn(endpoints) === 0 && publishedReady > 0 && !input.sourcesAnsweredEmpty) {
    endpoints = published;
    trips.push({ guard: "neverEmpty", detail: `no backend healthy of ${found}: ${previousSet}` });
  }

  if (config.maxRemovalsPerRun !== undefined) {
    // Holding one back only keeps more ready, so each view's cap still holds after the next view's pass.
    let removals = 0;
    let held = 0;
    for (const view of input.views ?? [published]) {
      const capped = capRemovals(endpoints, view, amountOf(config.maxRemovalsPerRun, readyIn(view)), published);
      endpoints = capped.endpoints;
      removals = Math.max(removals, capped.removals);
      held += capped.held;
    }
    if (held > 0) {
      trips.push({
        guard: "maxRemovalsPerRun",
        detail: `${removals} ready endpoints would stop being ready, more than maxRemovalsPerRun ${config.maxRemovalsPerRun}: ${held} stay ready this run`,
      });
    }
  }
  return { endpoints, trips };
}

/** A count, or a percentage of `total` rounded up (so "10%" of 5 still lets one go). */
function amountOf(setting: number | string, total: number): number {
  return typeof setting === "number" ? setting : Math.ceil((Number.parseInt(setting, 10) / 100) * total);
}

/**
 * A removal is a ready endpoint that would stop being ready: left out, or turned not ready. Those still found
 * but failing go first (they hurt clients), then those no source finds any more; by address within each.
 */
function capRemovals(endpoints: DesiredEndpoint[], view: DesiredEndpoint[], cap: number, published: DesiredEndpoint[]) {
  const next = new Map(endpoints.map((endpoint) => [endpoint.address, endpoint]));
  const fullest = new Map(published.map((endpoint) => [endpoint.address, endpoint]));
  const removals = view
    .filter((before) => before.ready && !next.get(before.address)?.ready)
    .sort((a, b) => Number(next.has(b.address)) - Number(next.has(a.address)) || compareAddresses(a.address, b.address));
  const held = removals.slice(cap);
  for (const before of held) next.set(before.address, fullest.get(before.address) ?? before);
  return { endpoints: [...next.values()], removals: removals.length, held: held.length };
}

/** Per target, for the run's self-check: backends probed, and those that gave no answer at all. */
export interface ProbeTally {
  probed: number;
  unanswered: number;
}

// An answer of any kind (a refusal, a status, a certificate) proves the checker's network works.
const NO_ANSWER = new Set<Verdict["reason"]>(["Timeout", "Unreachable", "CheckerError"]);

export function tallyProbes(verdicts: Iterable<Verdict>): ProbeTally {
  const tally: ProbeTally = { probed: 0, unanswered: 0 };
  for (const verdict of verdicts) {
    if (verdict.reason === "NotChecked") continue;
    tally.probed++;
    if (NO_ANSWER.has(verdict.reason)) tally.unanswered++;
  }
  return tally;
}

/** The checker self-check's evidence: a canary's verdict when the config names one, else the targets' tallies. */
export interface SelfCheckInput {
  tallies: ProbeTally[];
  /** At least this many probed backends, across more than one target, all unanswered. */
  minBackends: number;
  canary?: { name: string; verdict: Verdict };
}

/**
 * Pure: why the checker looks cut off from the network, or undefined. A canary the config names decides alone.
 * Without one, it takes every probed backend of at least two targets, at least `minBackends` of them, going
 * unanswered at once: one target's dead fleet is that target's news, for its own guards to weigh.
 */
export function checkerCutOff(input: SelfCheckInput): string | undefined {
  if (input.canary) {
    const { name, verdict } = input.canary;
    return NO_ANSWER.has(verdict.reason) ? `the canary ${name} went unanswered (${verdict.reason})` : undefined;
  }
  const probedTargets = input.tallies.filter((tally) => tally.probed > 0);
  const probed = probedTargets.reduce((sum, tally) => sum + tally.probed, 0);
  const allUnanswered = probedTargets.every((tally) => tally.unanswered === tally.probed);
  if (probedTargets.length < 2 || probed < input.minBackends || !allUnanswered) return undefined;
  return `all ${probed} probed backends of ${probedTargets.length} targets went unanswered`;
}
