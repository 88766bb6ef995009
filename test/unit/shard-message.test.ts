// A shard message as the worker reads it (functions/dispatch/message.ts): anyone who may send to the queue
// writes it, so each way it can be wrong is refused with the field and the value, and a good one is taken whole.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_MESSAGE_BYTES, parseShardMessage, ShardMessageError } from "../../functions/dispatch/message.ts";

const good = { tick: "2026-11-30T14:00:00Z", shard: "prod/0", targets: ["etcd", "db"] };

describe("parseShardMessage", () => {
  it("takes a message the dispatcher wrote", () => {
    assert.deepEqual(parseShardMessage(JSON.stringify(good)), good);
  });

  const refused: [string, string, RegExp][] = [
    ["more than the bound", "x".repeat(MAX_MESSAGE_BYTES + 1), /shard message of 65537 bytes: expected at most 65536/],
    ["not JSON", "{targets:", /shard message is not JSON/],
    ["no object", "[]", /invalid shard message/],
    ["a tick that is no time", JSON.stringify({ ...good, tick: "now" }), /tick: expected an ISO 8601 time/],
    ["no targets", JSON.stringify({ ...good, targets: [] }), /targets: expected at least one target name/],
    ["a target name longer than a DNS label", JSON.stringify({ ...good, targets: ["x".repeat(64)] }), /targets\[0\]: expected at most 63 characters/],
    ["too many targets", JSON.stringify({ ...good, targets: Array.from({ length: 1_001 }, (_, index) => `t${index}`) }), /targets: expected at most 1000 target names/],
    ["an unknown key", JSON.stringify({ ...good, cluster: "prod" }), /unknown key "cluster"/],
  ];
  for (const [name, body, message] of refused) {
    it(`refuses ${name}`, () => {
      assert.throws(() => parseShardMessage(body), (error: Error) => error instanceof ShardMessageError && message.test(error.message));
    });
  }
});
