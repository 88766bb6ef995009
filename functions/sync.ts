import type { Context, ScheduledEvent } from "aws-lambda";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Config } from "./config/schema.ts";
import { sendShards } from "./dispatch/send.ts";
import { needsDispatch, planShards, type Shard } from "./dispatch/shards.ts";
import { pruneClusters, runSync } from "./engine/run.ts";
import type { ClusterConnections } from "./kube/client.ts";
import { logger, metrics, publishRun, startInvocation } from "./observability.ts";
import { summarize } from "./report/summary.ts";
import { EnvError, installationId, optionalEnv } from "./env.ts";
import { functionRuntime, runDeadline } from "./runtime.ts";

/**
 * Scheduled: syncs every target before Lambda's timeout; logs, emits metrics and returns a summary per target.
 * A config past its `dispatch` bounds, with a queue to send to, is handed to the workers instead, one message per
 * shard, and this function prunes (docs/architecture.md, Scaling out).
 */
export async function handler(event: ScheduledEvent, context: Context) {
  startInvocation(context);
  const { config, connections } = await functionRuntime();
  const queueUrl = optionalEnv("EES_DISPATCH_QUEUE_URL");
  // EventBridge gives each tick its time, the same in a duplicate delivery; an invocation by hand is a tick of its own.
  if (queueUrl && needsDispatch(config)) return dispatch(config, connections, queueUrlFrom(queueUrl), event.time ?? new Date().toISOString(), planShards(config));
  const report = await runSync(config, connections, { fastDetection: true, installation: installationId(), deadline: runDeadline(context) });
  publishRun(report, config.metrics);
  return summarize(report);
}

/** Offline, where serverless.yml's reference to the queue means nothing, the variable must be set to a queue by hand. */
function queueUrlFrom(value: string): string {
  if (!URL.canParse(value)) throw new EnvError("EES_DISPATCH_QUEUE_URL", `must be the dispatch queue's URL, got ${JSON.stringify(value)}`);
  return value;
}

async function dispatch(config: Config, connections: ClusterConnections, queueUrl: string, tick: string, shards: Shard[]) {
  const started = performance.now();
  await sendShards(queueUrl, tick, shards);
  logger.info("shards dispatched", { tick, shards: shards.length, targets: config.targets.length });
  metrics.addMetric("ShardsDispatched", MetricUnit.Count, shards.length);
  metrics.publishStoredMetrics();
  const pruned = await pruneClusters(config, connections, installationId(), false);
  const report = {
    ok: pruned.every((prune) => prune.error === undefined),
    degraded: pruned.some((prune) => prune.guard !== undefined),
    dryRun: false,
    targets: [],
    pruned,
    durationMs: Math.round(performance.now() - started),
  };
  publishRun(report, config.metrics);
  return { dispatched: shards.length, ...summarize(report) };
}
