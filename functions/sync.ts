import type { Context, ScheduledEvent } from "aws-lambda";
import { runSync } from "./engine/run.ts";
import { publishRun, startInvocation } from "./observability.ts";
import { summarize } from "./report/summary.ts";
import { installationId } from "./env.ts";
import { functionRuntime, runDeadline } from "./runtime.ts";

/** Scheduled: syncs every target before Lambda's timeout; logs, emits metrics and returns a summary per target. */
export async function handler(_event: ScheduledEvent, context: Context) {
  startInvocation(context);
  const { config, connections } = await functionRuntime();
  const report = await runSync(config, connections, { fastDetection: true, installation: installationId(), deadline: runDeadline(context) });
  publishRun(report);
  return summarize(report);
}
