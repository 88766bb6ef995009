import { setTimeout as sleep } from "node:timers/promises";
import pLimit, { type LimitFunction } from "p-limit";
import type { Config, TargetConfig } from "../config/schema.ts";
import { checkerLooksIsolated, type GuardTrip } from "../decide/guards.ts";
import { probeLimiter } from "../health/check.ts";
import type { ClusterConnections } from "../kube/client.ts";
import type { RunReport, TargetReport } from "../report/report.ts";
import { pruneCluster } from "./prune.ts";
import { checkTarget, withholdWrites, writeTarget, type TargetContext } from "./sync-target.ts";

/** How many targets sync at once; probes share their own, larger limit. */
const TARGET_CONCURRENCY = 4;

export interface RunOptions {
  /** Only these targets; also skips pruning, which needs the whole config. */
  targets?: string[];
  dryRun?: boolean;
  signal?: AbortSignal;
  /**
   * Re-check within this run as config.fastDetection says. Only the scheduled function asks for it: a
   * triggered sync must answer within API Gateway's 29 s.
   */
  fastDetection?: boolean;
}

/** Names in a request that no target has. */
export class UnknownTargetError extends Error {
  readonly names: string[];
  constructor(names: string[]) {
    super(`no target named ${names.map((name) => JSON.stringify(name)).join(", ")}`);
    this.name = "UnknownTargetError";
    this.names = names;
  }
}

/**
 * One run: every selected target, then (under policy sync) the removal of what left the config. With
 * fastDetection, the targets are checked again every `everySeconds` until `forSeconds` have passed, each
 * round writing what changed; the report is the last round's, with every round's changes and writes.
 */
export async function runSync(config: Config, connections: ClusterConnections, options: RunOptions = {}): Promise<RunReport> {
  const started = performance.now();
  const dryRun = options.dryRun ?? false;
  const signal = options.signal ?? new AbortController().signal;
  const known = new Set(config.targets.map((target) => target.name));
  const unknown = (options.targets ?? []).filter((name) => !known.has(name));
  if (unknown.length > 0) throw new UnknownTargetError(unknown);
  const selected = options.targets ? config.targets.filter((target) => options.targets!.includes(target.name)) : config.targets;

  const probeLimit = probeLimiter(config.checkConcurrency);
  const targetLimit = pLimit(TARGET_CONCURRENCY);
  const round = () =>
    syncRound(selected, targetLimit, (target) => ({
      clients: () => connections.get(target.cluster),
      ownerId: config.ownerId,
      dryRun,
      probeLimit,
      signal,
      now: new Date(),
      syncIntervalMs: config.syncIntervalSeconds * 1000,
    }));
  const first = await round();
  let targets = first.targets;
  let rounds = 1;
  if (options.fastDetection && config.fastDetection && !dryRun) {
    const { everySeconds, forSeconds } = config.fastDetection;
    for (let next = started + everySeconds * 1000; next < started + forSeconds * 1000; next += everySeconds * 1000) {
      const stopped = await sleep(Math.max(0, next - performance.now()), false, { signal }).catch(() => true);
      if (stopped) break;
      const again = await round();
      targets = targets.map((earlier, index) => mergeRounds(earlier, again.targets[index]!));
      rounds++;
    }
  }

  const pruned =
    options.targets === undefined && config.policy === "sync" && !first.checkerIsolated
      ? await Promise.all(
          config.clusters.map(async (cluster) => {
            const targets = config.targets.filter((target) => target.cluster === cluster.name);
            const services = new Set(targets.map((target) => `${target.namespace}/${target.service}`));
            const namespaces = new Set(targets.map((target) => target.namespace));
            try {
              return await pruneCluster(await connections.get(cluster.name), config.ownerId, services, namespaces, dryRun);
            } catch (error) {
              return { cluster: cluster.name, changes: [], error: error instanceof Error ? error.message : String(error) };
            }
          }),
        )
      : [];

  return {
    ok: targets.every((target) => target.status !== "failed") && pruned.every((report) => report.error === undefined),
    dryRun,
    targets,
    pruned,
    durationMs: Math.round(performance.now() - started),
    ...(rounds > 1 && { rounds }),
  };
}

/**
 * Checks every target before writing any: when every probed backend of every target went unanswered, the
 * checker has more likely lost its network than all backends died at once, and nothing is written.
 */
async function syncRound(selected: TargetConfig[], targetLimit: LimitFunction, contextOf: (target: TargetConfig) => TargetContext) {
  const checked = await Promise.all(selected.map((target) => targetLimit(() => checkTarget(target, contextOf(target)))));
  const tallies = checked.map((target) => target.tally);
  if (checkerLooksIsolated(tallies)) {
    const probed = tallies.reduce((sum, tally) => sum + tally.probed, 0);
    const trip: GuardTrip = {
      guard: "checkerSelfCheck",
      detail: `all ${probed} probed backends of every target went unanswered: taking the checker to be cut off, wrote nothing`,
    };
    return { checkerIsolated: true, targets: checked.map((target) => withholdWrites(target, trip)) };
  }
  const targets = await Promise.all(checked.map((target) => targetLimit(() => writeTarget(target, contextOf(target.target)))));
  return { checkerIsolated: false, targets };
}

/** One target's report over two fast-detection rounds: the later state, with both rounds' writes. */
function mergeRounds(earlier: TargetReport, later: TargetReport): TargetReport {
  const trips = new Map([...earlier.guards, ...later.guards].map((trip) => [`${trip.guard}: ${trip.detail}`, trip]));
  return {
    ...later,
    status: later.status === "unchanged" ? earlier.status : later.status,
    guards: [...trips.values()],
    changes: [...earlier.changes, ...later.changes],
    writes: earlier.writes + later.writes,
    conflictsRetried: earlier.conflictsRetried + later.conflictsRetried,
    durationMs: earlier.durationMs + later.durationMs,
  };
}
