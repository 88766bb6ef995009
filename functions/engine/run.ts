import { setTimeout as sleep } from "node:timers/promises";
import pLimit, { type LimitFunction } from "p-limit";
import type { Config, TargetConfig } from "../config/schema.ts";
import { checkerCutOff, type GuardTrip } from "../decide/guards.ts";
import { errorMessage } from "../errors.ts";
import { probeLimiter } from "../health/probe-all.ts";
import { TcpCheck } from "../health/tcp.ts";
import type { ClusterConnections } from "../kube/client.ts";
import type { Verdict } from "../model.ts";
import { DEFAULT_INSTALLATION } from "../registry/labels.ts";
import { isDegraded, type PruneReport, type RunReport, type TargetReport } from "../report/report.ts";
import { pruneCluster } from "./prune.ts";
import { checkTarget, type TargetContext } from "./check-target.ts";
import { writeTarget } from "./write-target.ts";

/** How many targets sync at once; probes share their own, larger limit. */
const TARGET_CONCURRENCY = 4;
/** Of the time a deadline leaves, the share kept for writing what was decided (at most WRITE_RESERVE_MAX_MS). */
const WRITE_RESERVE_SHARE = 0.25;
const WRITE_RESERVE_MAX_MS = 10_000;

export interface RunOptions {
  /** Only these targets; also skips pruning, which needs the whole config. */
  targets?: string[];
  dryRun?: boolean;
  signal?: AbortSignal;
  /** Labels what this run writes, beside the config's owner id: see installationId(). */
  installation?: string;
  /**
   * When the run must be over (epoch ms): the time Lambda has left, or API Gateway's 29 s. Discovery and
   * probing stop early enough to write what was decided, and the run is reported cut short.
   */
  deadline?: number;
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
  const known = new Set(config.targets.map((target) => target.name));
  const unknown = (options.targets ?? []).filter((name) => !known.has(name));
  if (unknown.length > 0) throw new UnknownTargetError(unknown);
  const selected = options.targets ? config.targets.filter((target) => options.targets!.includes(target.name)) : config.targets;
  const installation = options.installation ?? DEFAULT_INSTALLATION;

  const stopLooking = lookingDeadline(options);
  try {
    const probeLimit = probeLimiter(config.checkConcurrency);
    const targetLimit = pLimit(TARGET_CONCURRENCY);
    const round = () => {
      const now = new Date();
      return syncRound(config, selected, targetLimit, probeLimit, stopLooking.signal, (target) => ({
        clients: () => connections.get(target.cluster),
        writer: { ownerId: config.ownerId, installation, cluster: target.cluster },
        dryRun,
        probeLimit,
        signal: stopLooking.signal,
        now,
        syncIntervalMs: config.syncIntervalSeconds * 1000,
      }));
    };
    let roundStarted = performance.now();
    let targets = await round();
    let rounds = 1;
    if (options.fastDetection && config.fastDetection && !dryRun) {
      const { everySeconds, forSeconds } = config.fastDetection;
      for (let next = started + everySeconds * 1000; next < started + forSeconds * 1000; next += everySeconds * 1000) {
        // A round that could not finish looking before the deadline is not started.
        const lastRound = performance.now() - roundStarted;
        if (stopLooking.signal.aborted || Date.now() + Math.max(0, next - performance.now()) + lastRound > stopLooking.at) break;
        const stopped = await sleep(Math.max(0, next - performance.now()), false, { signal: stopLooking.signal }).catch(() => true);
        if (stopped) break;
        roundStarted = performance.now();
        const again = await round();
        targets = targets.map((earlier, index) => mergeRounds(earlier, again[index]!));
        rounds++;
      }
    }
    const cutShort = stopLooking.fired();

    const pruned = options.targets === undefined ? await pruneClusters(config, connections, installation, dryRun) : [];

    return {
      ok: !cutShort && targets.every((target) => target.status !== "failed") && pruned.every((report) => report.error === undefined),
      degraded: cutShort || targets.some((target) => target.status === "degraded") || pruned.some((report) => report.guard !== undefined),
      dryRun,
      targets,
      pruned,
      durationMs: Math.round(performance.now() - started),
      ...(rounds > 1 && { rounds }),
      ...(cutShort && { cutShort }),
    };
  } finally {
    stopLooking.dispose();
  }
}

/**
 * Under policy sync, every cluster's objects of targets that left the config are deleted: this needs the whole
 * config, so a run of some targets skips it, and the dispatcher, which has it, does it for its workers.
 */
export async function pruneClusters(config: Config, connections: ClusterConnections, installation: string, dryRun: boolean): Promise<PruneReport[]> {
  if (config.policy !== "sync") return [];
  return Promise.all(
    config.clusters.map(async (cluster) => {
      const configured = new Set(config.targets.filter((target) => target.cluster === cluster.name).map((target) => `${target.namespace}/${target.service}`));
      const writer = { ownerId: config.ownerId, installation, cluster: cluster.name };
      try {
        return await pruneCluster(await connections.get(cluster.name), writer, configured, config.allowPruneAll, dryRun);
      } catch (error) {
        return { cluster: cluster.name, changes: [], error: errorMessage(error) };
      }
    }),
  );
}

/**
 * A signal that stops discovery and probing: when the caller's signal aborts, or early enough before the
 * deadline to write what was decided. Probes it stops are checker errors, which change nothing published.
 */
function lookingDeadline(options: RunOptions) {
  const controller = new AbortController();
  const forward = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener("abort", forward, { once: true });
  if (options.signal?.aborted) forward();
  let at = Number.POSITIVE_INFINITY;
  let timer: NodeJS.Timeout | undefined;
  let fired = false;
  if (options.deadline !== undefined) {
    const left = options.deadline - Date.now();
    at = options.deadline - Math.min(WRITE_RESERVE_MAX_MS, left * WRITE_RESERVE_SHARE);
    timer = setTimeout(() => {
      fired = true;
      controller.abort(new Error("the run's deadline"));
    }, Math.max(0, at - Date.now()));
  }
  return {
    signal: controller.signal,
    at,
    fired: () => fired,
    dispose() {
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", forward);
    },
  };
}

/**
 * Checks every target before writing any. When the checker looks cut off from the network (checkerCutOff),
 * no decision is written: every target gets only its status stamp and a Warning Event saying why.
 */
async function syncRound(
  config: Config,
  selected: TargetConfig[],
  targetLimit: LimitFunction,
  probeLimit: LimitFunction,
  signal: AbortSignal,
  contextOf: (target: TargetConfig) => TargetContext,
): Promise<TargetReport[]> {
  const { canary, minBackends } = config.selfCheck;
  const [checked, canaryVerdict] = await Promise.all([
    Promise.all(selected.map((target) => targetLimit(() => checkTarget(target, contextOf(target))))),
    canary && probeLimit(() => probeCanary(canary, signal)),
  ]);
  // Probes the deadline stopped went unanswered by our own doing: no evidence either way.
  const cutOff = signal.aborted
    ? undefined
    : checkerCutOff({
        tallies: checked.map((target) => target.tally),
        minBackends,
        ...(canary && canaryVerdict && { canary: { name: `${canary.address}:${canary.port}`, verdict: canaryVerdict } }),
      });
  const withheld: GuardTrip | undefined = cutOff ? { guard: "checkerSelfCheck", detail: `${cutOff}: taking the checker to be cut off, kept what is published` } : undefined;
  return Promise.all(checked.map((target) => targetLimit(() => writeTarget(target, contextOf(target.target), withheld))));
}

function probeCanary(canary: NonNullable<Config["selfCheck"]["canary"]>, signal: AbortSignal): Promise<Verdict> {
  const check = new TcpCheck({ port: canary.port, defaultPort: canary.port, timeoutMs: canary.timeoutMs, connectTimeoutMs: canary.timeoutMs });
  return check.probe({ address: canary.address, family: canary.address.includes(":") ? "IPv6" : "IPv4", sources: [] }, signal);
}

/**
 * One target's report over two fast-detection rounds: the later state (its sources), with both rounds' guards,
 * changes and writes. A round that failed marks the target failed; else it is degraded as the merged report
 * shows (a guard in either round, a source failed in the later), and otherwise synced if any round wrote.
 */
function mergeRounds(earlier: TargetReport, later: TargetReport): TargetReport {
  const trips = new Map([...earlier.guards, ...later.guards].map((trip) => [`${trip.guard}: ${trip.detail}`, trip]));
  const failed = later.status === "failed" ? later : earlier.status === "failed" ? earlier : undefined;
  const merged: TargetReport = {
    ...later,
    ...(failed && { error: failed.error }),
    guards: [...trips.values()],
    changes: [...earlier.changes, ...later.changes],
    writes: earlier.writes + later.writes,
    conflictsRetried: earlier.conflictsRetried + later.conflictsRetried,
    durationMs: earlier.durationMs + later.durationMs,
  };
  // Fast detection never runs dry, so a round with changes wrote them.
  merged.status = failed ? "failed" : isDegraded(merged) ? "degraded" : merged.changes.length > 0 ? "synced" : "unchanged";
  return merged;
}
