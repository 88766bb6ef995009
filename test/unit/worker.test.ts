// The worker's rule for a lane that fell behind (functions/worker.ts): a shard first received more than
// STALE_AFTER_INTERVALS intervals after its tick is dropped, logged and counted; one received again after a
// failure is synced, on its way to the dead-letter queue; a fresh one is synced. The config's cluster has no
// kubeconfig, so a shard that is synced fails at once and is returned: what is asserted is whether it was tried.
// test/e2e/dispatch.test.ts runs the worker against real API servers and moto's SQS.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it, type TestContext } from "node:test";
import type { Context, SQSEvent } from "aws-lambda";
import { stringify } from "yaml";
import { handler, STALE_AFTER_INTERVALS } from "../../functions/worker.ts";

const INTERVAL_SECONDS = 60;
const context = { awsRequestId: "invocation-1", functionName: "worker", invokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:worker", getRemainingTimeInMillis: () => 60_000 } as Context;

function shardEvent(ageSeconds: number, receives: number): SQSEvent {
  const tick = new Date(Date.now() - ageSeconds * 1000).toISOString();
  const body = JSON.stringify({ tick, shard: "local/3/0", targets: ["alpha"] });
  return { Records: [{ messageId: "m-1", body, attributes: { ApproximateReceiveCount: String(receives) } }] } as unknown as SQSEvent;
}

/** The handler's answer, and its JSON log lines and metrics (Powertools writes them to stdout and stderr). */
async function receive(t: TestContext, event: SQSEvent) {
  let written = "";
  const capture = (chunk: string | Uint8Array) => ((written += String(chunk)), true);
  t.mock.method(process.stdout, "write", capture);
  t.mock.method(process.stderr, "write", capture);
  try {
    const response = await handler(event, context);
    // The test runner's own messages share stdout, with no line break before ours.
    const lines = written.split("\n").flatMap((line) => (line.includes('{"') ? [JSON.parse(line.slice(line.indexOf('{"'))) as Record<string, unknown>] : []));
    return { failed: response.batchItemFailures.map((item) => item.itemIdentifier), lines };
  } finally {
    t.mock.restoreAll();
  }
}

describe("worker: stale shards", () => {
  const saved = { ...process.env };
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ees-worker-"));
    const config = join(dir, "config.yaml");
    const target = { name: "alpha", cluster: "local", namespace: "shop", service: "alpha", ports: [{ port: 80 }], sources: [{ static: [{ address: "192.0.2.10" }] }], check: { none: {} } };
    await writeFile(config, stringify({ syncIntervalSeconds: INTERVAL_SECONDS, clusters: [{ name: "local", kubeconfig: join(dir, "no-kubeconfig") }], targets: [target] }));
    Object.assign(process.env, { EES_CONFIG: config, EES_MAX_RECEIVE_COUNT: "3", EES_INSTALLATION: "external-endpoint-syncer-test", EES_STAGE: "test" });
  });
  after(async () => {
    process.env = { ...saved };
    await rm(dir, { recursive: true, force: true });
  });

  const staleAge = STALE_AFTER_INTERVALS * INTERVAL_SECONDS + 30;

  it("drops a shard first received more than three intervals after its tick, saying so, and counts it", async (t) => {
    const { failed, lines } = await receive(t, shardEvent(staleAge, 1));
    assert.deepEqual(failed, [], "deleted from the queue, not retried");
    const dropped = lines.find((line) => line.message === "shard dropped: newer ticks of it are queued");
    assert.equal(dropped?.shard, "local/3/0");
    assert.ok(Number(dropped?.ageSeconds) >= staleAge, String(dropped?.ageSeconds));
    assert.ok(lines.some((line) => JSON.stringify(line).includes('"ShardStale"')), "the ShardStale metric");
    assert.ok(!lines.some((line) => line.message === "shard failed, to be received again"), "never tried");
  });

  it("syncs a stale shard received again after a failure, and a fresh one", async (t) => {
    for (const [age, receives] of [
      [staleAge, 2],
      [5, 1],
    ] as const) {
      const { failed, lines } = await receive(t, shardEvent(age, receives));
      assert.deepEqual(failed, ["m-1"], `age ${age} s, receive ${receives}: tried, and failed with no cluster to reach`);
      assert.ok(lines.some((line) => line.message === "shard failed, to be received again" && line.receives === receives), `age ${age} s, receive ${receives}`);
      assert.ok(!lines.some((line) => line.message === "shard dropped: newer ticks of it are queued"));
    }
  });
});
