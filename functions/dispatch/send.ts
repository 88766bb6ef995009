// The dispatcher's side of the queue: one FIFO message per shard, grouped by lane, deduplicated per tick.
import { createHash } from "node:crypto";
import pLimit from "p-limit";
import { AWS_REQUEST_TIMEOUT_MS, clientOptionsWithin } from "../aws/request-handler.ts";
import { errorMessage } from "../errors.ts";
import type { ShardMessage } from "./message.ts";
import type { Shard } from "./shards.ts";

/** SendMessageBatch takes at most 10 messages. */
const BATCH = 10;
/** Batches in flight at once: 1,000 shards go out in 100 calls. */
const SENDS_AT_ONCE = 4;

/** Some shards were not queued; the names say which, and why. */
export class DispatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "DispatchError";
  }
}

/**
 * Queues every shard of one tick. MessageGroupId is the shard's lane: SQS hands out a group's messages one at a
 * time, so two ticks never sync one target at once and an API server sees at most workersPerCluster workers. The
 * deduplication id is the tick and the shard: a schedule event delivered twice (same time) queues nothing new.
 */
export async function sendShards(queueUrl: string, tick: string, shards: readonly Shard[]): Promise<void> {
  const { SQSClient, SendMessageBatchCommand } = await import("../aws/sdk-sqs.ts");
  const client = new SQSClient(clientOptionsWithin(AWS_REQUEST_TIMEOUT_MS));
  const limit = pLimit(SENDS_AT_ONCE);
  const batches = Array.from({ length: Math.ceil(shards.length / BATCH) }, (_, index) => shards.slice(index * BATCH, (index + 1) * BATCH));
  const sendBatch = async (batch: Shard[]): Promise<string[]> => {
    const entries = batch.map((shard, index) => {
      const message: ShardMessage = { tick, shard: shard.id, targets: shard.targets };
      return { Id: String(index), MessageBody: JSON.stringify(message), MessageGroupId: shard.group, MessageDeduplicationId: deduplicationId(tick, shard.id) };
    });
    try {
      const response = await client.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
      return (response.Failed ?? []).map((entry) => `${batch[Number(entry.Id)]?.id}: ${entry.Code}: ${entry.Message ?? ""}`);
    } catch (error) {
      return batch.map((shard) => `${shard.id}: ${errorMessage(error)}`);
    }
  };
  let failed: string[];
  try {
    failed = (await Promise.all(batches.map((batch) => limit(() => sendBatch(batch))))).flat();
  } finally {
    client.destroy();
  }
  if (failed.length > 0) throw new DispatchError(`${failed.length} of ${shards.length} shards were not queued: ${failed.slice(0, 10).join("; ")}${failed.length > 10 ? "; ..." : ""}`);
}

/** At most 128 characters of SQS's alphabet, whatever the cluster's name. */
export function deduplicationId(tick: string, shard: string): string {
  return createHash("sha256").update(`${tick}\n${shard}`).digest("hex");
}
