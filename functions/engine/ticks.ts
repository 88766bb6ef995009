import { setTimeout as sleep } from "node:timers/promises";
import type { Config } from "../config/schema.ts";
import type { ClusterConnections } from "../kube/client.ts";
import type { RunReport } from "../report/report.ts";
import { runSync } from "./run.ts";

/** One run of the loop. */
export interface Tick {
  report: RunReport;
  /** When the run started and finished (epoch ms). */
  startedAt: number;
  finishedAt: number;
  /** How far the run went past its tick's slot, which moved the next tick to its end; 0 when it fit. */
  overrunMs: number;
}

/**
 * Runs every `config.syncIntervalSeconds`, never two at once: a run that outlasts the interval delays the next
 * tick, which then starts at once. Each run is the scheduled function's: the interval is its deadline, and
 * fastDetection re-checks between ticks. When `signal` aborts, the run under way stops looking, writes what it
 * decided and is yielded; no other starts. Clients (`connections`) are the caller's, kept across ticks.
 */
export async function* syncEvery(
  config: Config,
  connections: ClusterConnections,
  options: { installation: string; signal: AbortSignal },
): AsyncGenerator<Tick> {
  const intervalMs = config.syncIntervalSeconds * 1000;
  // Monotonic: a wall-clock step (NTP) moves neither the ticks nor the deadlines' spacing.
  let due = performance.now();
  while (!options.signal.aborted) {
    const startedAt = Date.now();
    const report = await runSync(config, connections, { installation: options.installation, fastDetection: true, deadline: startedAt + intervalMs, signal: options.signal });
    const finishedAt = Date.now();
    due += intervalMs;
    const overrunMs = Math.max(0, Math.round(performance.now() - due));
    if (overrunMs > 0) due = performance.now();
    yield { report, startedAt, finishedAt, overrunMs };
    // Aborted: no more ticks; the loop's condition ends it.
    await sleep(Math.max(0, due - performance.now()), undefined, { signal: options.signal }).catch(() => undefined);
  }
}
