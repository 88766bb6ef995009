import { readFileSync } from "node:fs";
import type { RefinementCtx } from "zod";

/** What the process that will run the config allows. A limit left out is not checked (`validate` knows none). */
export interface RuntimeLimits {
  /** The sync function's timeout (serverless.yml, passed as EES_SYNC_TIMEOUT_SECONDS): fast detection must end before it. */
  syncTimeoutSeconds?: number;
  /**
   * The interval of the sync function's schedule (serverless.yml derives it from the packaged config and passes
   * it as EES_SYNC_INTERVAL_SECONDS): a config read at run time (SSM) must have the same syncIntervalSeconds.
   */
  scheduleIntervalSeconds?: number;
  /**
   * The metrics level the alarms query (serverless.yml reads it from the packaged config and passes it as
   * EES_METRICS_LEVEL): a config read at run time (SSM) at another level would leave the alarms querying nothing.
   */
  metricsLevel?: string;
  /** The loop's `run --every`, which replaces syncIntervalSeconds: fast detection must end before the next tick. */
  loopIntervalSeconds?: number;
  /** The soft limit on open files (RLIMIT_NOFILE; Lambda's is 1,024): every probe in flight holds one. */
  openFiles?: number;
}

/**
 * Descriptors kept for all that is not a probe: Node itself (about 20), the connections to each cluster's API
 * server and to AWS, DNS sockets and the body-match worker. 1,024 on Lambda leaves room for the default 900 probes.
 */
export const RESERVED_FILES = 100;

/** The soft RLIMIT_NOFILE, from /proc/self/limits; undefined where there is no such file, or no limit. */
export function openFilesLimit(): number | undefined {
  let text: string;
  try {
    text = readFileSync("/proc/self/limits", "utf8");
  } catch {
    return undefined;
  }
  const soft = /^Max open files\s+(\d+|unlimited)\s/m.exec(text)?.[1];
  return soft === undefined || soft === "unlimited" ? undefined : Number(soft);
}

type Loose = Record<string, unknown>;

/** Checks a config (parsed loosely: it may be invalid elsewhere) against the limits of the process that runs it. */
export function checkLimits(limits: RuntimeLimits) {
  return (config: Loose, ctx: RefinementCtx) => {
    const fast = config.fastDetection as Loose | undefined;
    const timeout = limits.syncTimeoutSeconds;
    // The invocation would end mid-round, its writes and report cut off.
    if (timeout !== undefined && typeof fast?.forSeconds === "number" && fast.forSeconds >= timeout) {
      ctx.addIssue({ code: "custom", path: ["fastDetection", "forSeconds"], input: fast.forSeconds, message: `expected less than the sync function's timeout (${timeout} s)` });
    }
    // Streaks would expire after 3 intervals of the config's, while the schedule runs at another.
    const scheduled = limits.scheduleIntervalSeconds;
    if (scheduled !== undefined && typeof config.syncIntervalSeconds === "number" && config.syncIntervalSeconds !== scheduled) {
      ctx.addIssue({
        code: "custom",
        path: ["syncIntervalSeconds"],
        input: config.syncIntervalSeconds,
        // The value is in the message too: when it is the default, there is none written to show.
        message: `expected ${scheduled}, the interval of the sync function's schedule (EES_SYNC_INTERVAL_SECONDS, derived from the config file serverless packaged), not ${config.syncIntervalSeconds}: give this config and that file the same syncIntervalSeconds`,
      });
    }
    const level = limits.metricsLevel;
    const metrics = config.metrics ?? "target";
    if (level !== undefined && metrics !== level) {
      ctx.addIssue({
        code: "custom",
        path: ["metrics"],
        input: metrics,
        message: `expected ${level}, the level the alarms query (EES_METRICS_LEVEL, from the config file serverless packaged), not ${String(metrics)}: give this config and that file the same metrics`,
      });
    }
    const every = limits.loopIntervalSeconds;
    // The next tick would start while this one still re-checks: ticks never overlap, so it would start late.
    if (every !== undefined && typeof fast?.forSeconds === "number" && fast.forSeconds >= every) {
      ctx.addIssue({ code: "custom", path: ["fastDetection", "forSeconds"], input: fast.forSeconds, message: `expected less than --every (${every} s)` });
    }
    const concurrency = typeof config.checkConcurrency === "number" ? config.checkConcurrency : undefined;
    if (limits.openFiles !== undefined && concurrency !== undefined && concurrency > limits.openFiles - RESERVED_FILES) {
      ctx.addIssue({
        code: "custom",
        path: ["checkConcurrency"],
        input: concurrency,
        message: `expected at most ${Math.max(0, limits.openFiles - RESERVED_FILES)}: ${concurrency} probes at once hold as many sockets, this process may open ${limits.openFiles} files (ulimit -n), and ${RESERVED_FILES} are kept for other than probes`,
      });
    }
  };
}
