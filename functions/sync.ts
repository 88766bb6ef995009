import type { ScheduledEvent } from "aws-lambda";
import { runSync } from "./engine/run.ts";
import { logJson } from "./log.ts";
import { functionRuntime, summarize } from "./runtime.ts";

/** Scheduled: syncs every target, logs and returns a summary per target. */
export async function handler(_event: ScheduledEvent) {
  const { config, connections } = await functionRuntime();
  const summary = summarize(await runSync(config, connections));
  for (const target of summary.targets) logJson(target.status === "failed" ? "error" : "info", "target synced", target);
  logJson(summary.ok ? "info" : "error", "sync finished", { ok: summary.ok, durationMs: summary.durationMs, pruned: summary.pruned });
  return summary;
}
