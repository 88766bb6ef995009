// One shard as an SQS message. A message is hostile input to the worker: anyone who may send to the queue
// writes it, so it is bounded, checked field by field, and may only name targets the config has.
import * as z from "zod";
import { describeIssues } from "../config/issues.ts";

/** A message of 100 targets of 63 characters takes about 7 KiB. */
export const MAX_MESSAGE_BYTES = 65_536;
const MAX_SHARD_TARGETS = 1_000;

const shardMessageSchema = z.strictObject({
  tick: z.iso.datetime({ error: "expected an ISO 8601 time" }),
  shard: z.string().min(1).max(127),
  targets: z
    .array(z.string().min(1).max(63, { error: "expected at most 63 characters (a target name is a DNS label)" }))
    .min(1, { error: "expected at least one target name" })
    .max(MAX_SHARD_TARGETS, { error: `expected at most ${MAX_SHARD_TARGETS} target names` }),
});

export type ShardMessage = z.output<typeof shardMessageSchema>;

/** A message the worker refuses: it says why, naming the field and value. */
export class ShardMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ShardMessageError";
  }
}

export function parseShardMessage(body: string): ShardMessage {
  const bytes = Buffer.byteLength(body);
  if (bytes > MAX_MESSAGE_BYTES) throw new ShardMessageError(`shard message of ${bytes} bytes: expected at most ${MAX_MESSAGE_BYTES}`);
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch (error) {
    throw new ShardMessageError(`shard message is not JSON: ${(error as Error).message}`);
  }
  const result = shardMessageSchema.safeParse(json);
  if (!result.success) throw new ShardMessageError(`invalid shard message:\n${describeIssues(result.error, json).map((line) => `  - ${line}`).join("\n")}`);
  return result.data;
}
