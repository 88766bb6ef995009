// The dispatcher and its workers under serverless offline, against moto's SQS over the wire (a FIFO queue with a
// dead-letter queue) and three real kube-apiservers, each with its own etcd. The functions are the bundles
// serverless offline builds, invoked through its Lambda API; small pollers stand in for Lambda's SQS event
// source mapping, which neither moto nor serverless offline runs (test/harness/dispatch.ts). The worker killed
// mid-shard runs in a process of its own (test/harness/worker-process.ts, on the sources), since killing
// offline's would kill them all.
//
// Cases: every target synced exactly once per tick, a duplicate schedule event queuing nothing; a worker killed
// mid-shard has its shard redelivered after the visibility timeout and finished, no object duplicated or lost;
// a shard that always fails goes to the dead-letter queue with a log line, the others not held back; two
// overlapping ticks never sync one target at once; the shards of a tick three intervals old are dropped; a hostile
// message is refused, naming the field.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { DeleteMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse } from "aws-lambda";
import { stringify } from "yaml";
import { planShards, type Shard } from "../../functions/dispatch/shards.ts";
import { MAX_RECEIVE_COUNT } from "../../infra/resources.ts";
import { selectorlessService, startTestCluster, testConfig, type TestCluster } from "../harness/cluster.ts";
import { asRecord, auditMarks, serviceReads, startDispatch, type Dispatch, type Run } from "../harness/dispatch.ts";

const ROOT = join(import.meta.dirname, "../..");

const NAMESPACE = "ees-dispatch";
const CLUSTERS = ["a", "b", "c"];
const SERVICES = ["s0", "s1", "s2", "s3", "s4", "s5"];
/** The target of cluster c whose Service is never made: its shard always fails. */
const DOOMED = "c-doomed";
/** Longer than a shard of two targets takes here, even on a busy machine. */
const VISIBILITY_SECONDS = 8;
/** serverless.yml tells the worker the redrive limit of infra/resources.ts: the test's queue has the same. */
const MAX_RECEIVES = MAX_RECEIVE_COUNT;
const addresses = (cluster: string, service: string) => [`192.0.2.${CLUSTERS.indexOf(cluster) * 20 + SERVICES.indexOf(service) * 2 + 1}`, `192.0.2.${CLUSTERS.indexOf(cluster) * 20 + SERVICES.indexOf(service) * 2 + 2}`];

const clusters = new Map<string, TestCluster>();
let dispatch: Dispatch;
let shards: Shard[];
let doomedShard: string;

before(async () => {
  const started = await Promise.all(CLUSTERS.map(() => startTestCluster([NAMESPACE])));
  CLUSTERS.forEach((name, index) => clusters.set(name, started[index]!));
  for (const cluster of clusters.values()) {
    for (const service of SERVICES) await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, service, [{ port: 9000 }]) });
  }

  // Three clusters of six targets in two lanes each, at most three per shard, and one more target in c that
  // always fails: 8 shards, as planShards lays them out.
  const input = {
    dispatch: { maxTargetsPerShard: 3, workersPerCluster: 2 },
    clusters: CLUSTERS.map((name) => ({ name, kubeconfig: clusters.get(name)!.kubeconfig })),
    targets: [
      ...CLUSTERS.flatMap((cluster) =>
        SERVICES.map((service) => ({
          name: `${cluster}-${service}`,
          cluster,
          namespace: NAMESPACE,
          service,
          ports: [{ port: 9000 }],
          sources: [{ static: addresses(cluster, service).map((address) => ({ address })) }],
          check: { none: {} },
        })),
      ),
      { name: DOOMED, cluster: "c", namespace: NAMESPACE, service: "doomed", ports: [{ port: 9000 }], sources: [{ static: [{ address: "192.0.2.99" }] }], check: { none: {} } },
    ],
  };
  const config = testConfig(input);
  shards = planShards(config);
  doomedShard = shards.find((shard) => shard.targets.includes(DOOMED))!.id;
  assert.deepEqual(shards.find((shard) => shard.id === doomedShard)?.targets, [DOOMED], "the doomed target's lane is full before it: a shard of its own");
  for (const [name, cluster] of clusters) await cluster.grant(config, name);
  const dir = await mkdtemp(join(tmpdir(), "ees-dispatch-"));
  const configFile = join(dir, "config.yaml");
  await writeFile(configFile, stringify(input));
  dispatch = await startDispatch({ configFile, visibilitySeconds: VISIBILITY_SECONDS, maxReceives: MAX_RECEIVES });
});

after(async () => {
  await dispatch?.stop();
  await Promise.all([...clusters.values()].map((cluster) => cluster.stop()));
});

/** Every target's slice holds exactly its two addresses, once, and its Endpoints the same. */
async function assertPublished(): Promise<void> {
  for (const [name, cluster] of clusters) {
    for (const service of SERVICES) {
      const slices = (await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: `kubernetes.io/service-name=${service}` })).items;
      assert.deepEqual(
        slices.map((slice) => (slice.endpoints ?? []).map((endpoint) => endpoint.addresses[0]).sort()),
        [addresses(name, service).sort()],
        `${name}/${service}: one slice with both addresses`,
      );
      const endpoints = await cluster.admin.core.readNamespacedEndpoints({ namespace: NAMESPACE, name: service });
      assert.deepEqual(endpoints.subsets?.flatMap((subset) => (subset.addresses ?? []).map((address) => address.ip)).sort(), addresses(name, service).sort());
    }
  }
}

/** No two runs that share a target overlap in time. */
function assertNeverAtOnce(runs: Run[]): void {
  for (const [index, one] of runs.entries()) {
    for (const other of runs.slice(index + 1)) {
      if (!one.targets.some((target) => other.targets.includes(target))) continue;
      assert.ok(one.end <= other.start || other.end <= one.start, `${one.tick} ${one.shard} and ${other.tick} ${other.shard} ran at once`);
    }
  }
}

const goodTargets = CLUSTERS.flatMap((cluster) => SERVICES.map((service) => `${cluster}-${service}`));
/** A schedule's tick `minutes` after the test began, as EventBridge times it: the worker drops shards of old ticks. */
const testStart = Math.floor(Date.now() / 60_000) * 60_000;
const tickAt = (minutes: number) => new Date(testStart + minutes * 60_000).toISOString();

describe("dispatcher and workers on SQS", { concurrency: false }, () => {
  it("a tick syncs every target exactly once, and the shard that always fails goes to the dead-letter queue without holding back the others", async (t) => {
    const marks = await auditMarks(clusters);
    const started = performance.now();
    const time = tickAt(0);
    assert.equal((await dispatch.tick(time)).dispatched, shards.length);
    // EventBridge delivers at least once: the same event again queues nothing new.
    await dispatch.tick(time);

    const runs: Run[] = [];
    await dispatch.drain(4, runs);
    const good = runs.filter((run) => !run.targets.includes(DOOMED));
    assert.deepEqual(good.map((run) => run.failed), good.map(() => false));
    t.diagnostic(`tick to every good target synced: ${Math.round(Math.max(...good.map((run) => run.end)) - started)} ms; ${runs.length} worker invocations`);
    assert.deepEqual(good.flatMap((run) => run.targets).sort(), [...goodTargets].sort(), `every target once: ${JSON.stringify(good.map((run) => [run.shard, run.tick, run.receives]))}`);
    const reads = await serviceReads(clusters, marks);
    for (const target of goodTargets) assert.equal(reads[target], 1, `${target}: synced once`);

    const doomed = runs.filter((run) => run.targets.includes(DOOMED));
    assert.deepEqual(
      doomed.map((run) => [run.shard, run.receives, run.failed]),
      Array.from({ length: MAX_RECEIVES }, (_, index) => [doomedShard, index + 1, true]),
    );
    assert.ok(good.every((run) => run.end <= doomed.at(-1)!.start), "every other shard was done before the doomed one's last receive");
    assert.deepEqual(await dispatch.deadLetters(), [doomedShard]);
    const line = dispatch.logLines().find((entry) => entry.message === "shard dead-lettered");
    assert.equal(line?.shard, doomedShard);
    assert.equal(line?.receives, MAX_RECEIVES);
    assert.match(String(line?.error), /c-doomed/);
    await assertPublished();
  });

  it("a worker killed mid-shard has its shard received again after the visibility timeout and finished, no object duplicated or lost", async () => {
    await dispatch.tick(tickAt(1));
    const first = await dispatch.receive();
    assert.ok(first);
    const killed = JSON.parse(first.Body!) as { shard: string; targets: string[] };
    // Nothing published for the shard's targets, so the killed worker dies amid its creates.
    const cluster = clusters.get(killed.shard.split("/")[0]!)!;
    for (const service of killed.targets.map((target) => target.split("-")[1]!)) {
      const slices = (await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: `kubernetes.io/service-name=${service}` })).items;
      for (const slice of slices) await cluster.admin.discovery.deleteNamespacedEndpointSlice({ namespace: NAMESPACE, name: slice.metadata!.name! });
      await cluster.admin.core.deleteNamespacedEndpoints({ namespace: NAMESPACE, name: service });
    }
    const mark = await cluster.auditMark();

    const child = spawn(process.execPath, [join(ROOT, "test/harness/worker-process.ts")], { stdio: ["pipe", "ignore", "inherit"], env: dispatch.functionsEnv });
    child.stdin.end(JSON.stringify(asRecord(first)));
    const exited = new Promise((resolve) => child.once("exit", resolve));
    // Killed at its first write: the rest of the shard is never written by it.
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(20)) {
      if ((await cluster.syncerWritesSince(mark)).length > 0) break;
    }
    child.kill("SIGKILL");
    await exited;
    const writtenByKilled = (await cluster.syncerWritesSince(mark)).length;
    assert.ok(writtenByKilled > 0, "the worker wrote before it was killed");

    const runs: Run[] = [];
    await dispatch.drain(4, runs);
    const again = runs.filter((run) => run.shard === killed.shard);
    assert.deepEqual(again.map((run) => [run.receives, run.failed]), [[2, false]], "received again, after the visibility timeout, and finished");
    await assertPublished();
  });

  it("two overlapping ticks never sync one target at once, and each syncs every target once", async () => {
    const marks = await auditMarks(clusters);
    await dispatch.tick(tickAt(2));
    const runs: Run[] = [];
    const draining = dispatch.drain(6, runs);
    // The next tick comes while the first one's shards are being synced.
    await sleep(300);
    await dispatch.tick(tickAt(3));
    await draining;
    await dispatch.drain(6, runs);
    assertNeverAtOnce(runs);
    for (const tick of [tickAt(2), tickAt(3)]) {
      assert.deepEqual(runs.filter((run) => run.tick === tick && !run.failed).flatMap((run) => run.targets).sort(), [...goodTargets].sort(), tick);
    }
    const reads = await serviceReads(clusters, marks);
    for (const target of goodTargets) assert.equal(reads[target], 2, `${target}: once per tick`);
    await assertPublished();
  });

  it("drops the shards of a tick three intervals old on their first receive, saying so, and syncs none of them", async () => {
    const marks = await auditMarks(clusters);
    const lines = dispatch.logLines().length;
    const deadLettered = await dispatch.deadLetterCount();
    assert.equal((await dispatch.tick(tickAt(-4))).dispatched, shards.length);
    const runs: Run[] = [];
    await dispatch.drain(4, runs);
    assert.deepEqual(runs.map((run) => [run.receives, run.failed]), shards.map(() => [1, false]), "each received once and deleted");
    const dropped = dispatch.logLines().slice(lines).filter((entry) => entry.message === "shard dropped: newer ticks of it are queued");
    assert.deepEqual(dropped.map((entry) => entry.shard).sort(), shards.map((shard) => shard.id).sort());
    const reads = await serviceReads(clusters, marks);
    for (const target of goodTargets) assert.equal(reads[target] ?? 0, 0, `${target}: not synced`);
    assert.equal(await dispatch.deadLetterCount(), deadLettered, "the doomed shard, dropped, is not dead-lettered again");
  });

  it("refuses a hostile message, naming the field and the value, and an unknown target by its name", async () => {
    for (const [body, expected] of [
      [JSON.stringify({ tick: "now", shard: "a/0", targets: ["a-s0"] }), /tick: expected an ISO 8601 time/],
      [JSON.stringify({ tick: tickAt(5), shard: "x/0", targets: ["nobody"] }), /no target named "nobody"/],
      ["x".repeat(70_000), /shard message of 70000 bytes: expected at most 65536/],
    ] as const) {
      await dispatch.sqs.send(new SendMessageCommand({ QueueUrl: dispatch.queueUrl, MessageBody: body, MessageGroupId: "hostile", MessageDeduplicationId: String(body.length) }));
      const message = await dispatch.receive();
      assert.ok(message);
      const lines = dispatch.logLines().length;
      const response = await dispatch.invoke<SQSBatchResponse>("worker", { Records: [asRecord(message)] });
      assert.deepEqual(response.batchItemFailures, [{ itemIdentifier: message.MessageId }]);
      assert.match(String(dispatch.logLines().slice(lines).find((entry) => entry.message === "shard failed, to be received again")?.error), expected);
      await dispatch.sqs.send(new DeleteMessageCommand({ QueueUrl: dispatch.queueUrl, ReceiptHandle: message.ReceiptHandle! }));
    }
  });
});
