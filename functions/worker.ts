import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { parseShardMessage } from "./dispatch/message.ts";
import { runSync } from "./engine/run.ts";
import { installationId, requireEnv } from "./env.ts";
import { errorMessage } from "./errors.ts";
import { logger, metrics, publishRun, startInvocation } from "./observability.ts";
import { functionRuntime, runDeadline } from "./runtime.ts";

/**
 * SQS: syncs one shard per message with the same engine, pruning left to the dispatcher. The batch is taken in
 * order, and the first shard that fails is returned with every one after it: on a FIFO queue a group's later
 * messages must not pass an earlier one, and SQS redelivers only what is returned.
 */
export async function handler(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  startInvocation(context);
  const failures: string[] = [];
  for (const record of event.Records) {
    if (failures.length > 0 || !(await syncShard(record, runDeadline(context)))) failures.push(record.messageId);
  }
  return { batchItemFailures: failures.map((itemIdentifier) => ({ itemIdentifier })) };
}

/**
 * A shard first received this many sync intervals after its tick has newer ticks of itself queued behind it, in
 * its message group: it is dropped, so a lane whose shards outrun the interval keeps a bounded backlog.
 */
export const STALE_AFTER_INTERVALS = 3;

/** Whether the shard is done with: synced (every target without failure, the run not cut short), or stale. */
async function syncShard(record: SQSRecord, deadline: number): Promise<boolean> {
  let shard: string | undefined;
  let targets: string[] = [];
  try {
    const message = parseShardMessage(record.body);
    ({ shard, targets } = message);
    const { config, connections } = await functionRuntime();
    const ageSeconds = Math.round((Date.now() - Date.parse(message.tick)) / 1000);
    // A shard received again after a failure is never dropped: it goes on to the dead-letter queue.
    if (Number(record.attributes.ApproximateReceiveCount) === 1 && ageSeconds > STALE_AFTER_INTERVALS * config.syncIntervalSeconds) {
      logger.warn("shard dropped: newer ticks of it are queued", { shard, tick: message.tick, ageSeconds, targets: targets.length });
      metrics.addMetric("ShardStale", MetricUnit.Count, 1);
      metrics.publishStoredMetrics();
      return true;
    }
    // No fast detection: a worker re-checking for most of a minute would hold back its cluster's next shard.
    const report = await runSync(config, connections, { targets, installation: installationId(), deadline });
    publishRun(report, config.metrics);
    if (report.ok) return true;
    const failed = report.targets.filter((target) => target.status === "failed").map((target) => target.target);
    shardFailed(record, shard, targets, report.cutShort ? "the run was cut short" : `targets failed: ${failed.join(", ")}`);
  } catch (error) {
    // A refused message, an unknown target, a config that would not load: the message's fault or the
    // deployment's, said once here, and the shard is retried until it goes to the dead-letter queue.
    shardFailed(record, shard, targets, errorMessage(error));
  }
  return false;
}

/** The shard's receive count against the queue's maxReceiveCount: on its last receive, SQS moves it to the dead-letter queue. */
function shardFailed(record: SQSRecord, shard: string | undefined, targets: string[], error: string): void {
  const receives = Number(record.attributes.ApproximateReceiveCount);
  const maxReceives = Number(requireEnv("EES_MAX_RECEIVE_COUNT"));
  const fields = { shard, targets, messageId: record.messageId, receives, error };
  if (receives >= maxReceives) {
    logger.error("shard dead-lettered", { ...fields, maxReceives });
    metrics.addMetric("ShardDeadLettered", MetricUnit.Count, 1);
    metrics.publishStoredMetrics();
  } else {
    logger.warn("shard failed, to be received again", fields);
  }
}
