// The dispatcher and its workers under serverless offline, against moto's SQS over the wire (a FIFO queue with a
// dead-letter queue) and three real kube-apiservers, each with its own etcd. The functions are the bundles
// serverless offline builds, invoked through its Lambda API; a small poller stands in for Lambda's SQS event
// source mapping, which neither moto nor serverless offline runs: it receives one message at a time, invokes the
// worker with it, and deletes what the worker did not return as failed, as the mapping does with
// ReportBatchItemFailures. The worker killed mid-shard runs in a process of its own (test/harness/worker-process.ts,
// on the sources), since killing offline's would kill them all.
//
// Cases: every target synced exactly once per tick, a duplicate schedule event queuing nothing; a worker killed
// mid-shard has its shard redelivered after the visibility timeout and finished, no object duplicated or lost;
// a shard that always fails goes to the dead-letter queue with a log line, the others not held back; two
// overlapping ticks never sync one target at once; a hostile message is refused, naming the field.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type Message,
} from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSRecord } from "aws-lambda";
import pLimit from "p-limit";
import { stringify } from "yaml";
import { planShards, type Shard } from "../../functions/dispatch/shards.ts";
import { MAX_RECEIVE_COUNT } from "../../infra/resources.ts";
import { eventually, selectorlessService, startTestCluster, testConfig, type TestCluster } from "../harness/cluster.ts";
import { freePort, startMoto, type Moto } from "../harness/moto.ts";

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

let moto: Moto;
let sqs: SQSClient;
let queueUrl: string;
let deadLetterUrl: string;
const clusters = new Map<string, TestCluster>();
let offline: ChildProcess;
let offlineOutput = "";
let lambdaPort: number;
let functionsEnv: NodeJS.ProcessEnv;
let shards: Shard[];
let doomedShard: string;

before(async () => {
  moto = await startMoto();
  process.env.AWS_REGION = "eu-west-1";
  sqs = new SQSClient({ endpoint: moto.endpoint });
  const started = await Promise.all(CLUSTERS.map(() => startTestCluster([NAMESPACE])));
  CLUSTERS.forEach((name, index) => clusters.set(name, started[index]!));
  for (const cluster of clusters.values()) {
    for (const service of SERVICES) await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, service, [{ port: 9000 }]) });
  }

  const deadLetter = await sqs.send(new CreateQueueCommand({ QueueName: "ees-dead-letter.fifo", Attributes: { FifoQueue: "true" } }));
  deadLetterUrl = deadLetter.QueueUrl!;
  const deadLetterArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: deadLetterUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
  const queue = await sqs.send(
    new CreateQueueCommand({
      QueueName: "ees-shards.fifo",
      Attributes: { FifoQueue: "true", VisibilityTimeout: String(VISIBILITY_SECONDS), RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetterArn, maxReceiveCount: MAX_RECEIVES }) },
    }),
  );
  queueUrl = queue.QueueUrl!;

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
  // No schedule: the test invokes the scheduled function itself, tick by tick, through offline's Lambda API.
  const httpPort = await freePort();
  lambdaPort = await freePort();
  functionsEnv = { ...process.env, EES_INSTALLATION: "external-endpoint-syncer-dev", EES_CONFIG: configFile, EES_DISPATCH_QUEUE_URL: queueUrl, EES_MAX_RECEIVE_COUNT: String(MAX_RECEIVES), OFFLINE_HTTP_PORT: String(httpPort), OFFLINE_LAMBDA_PORT: String(lambdaPort) };
  offline = spawn(join(ROOT, "node_modules/.bin/sls"), ["offline", "start", "--param=syncSchedule=false"], { cwd: ROOT, env: functionsEnv, stdio: ["ignore", "pipe", "pipe"] });
  offline.stdout!.setEncoding("utf8").on("data", (chunk: string) => (offlineOutput += chunk));
  offline.stderr!.setEncoding("utf8").on("data", (chunk: string) => (offlineOutput += chunk));
  const up = await eventually(
    () => fetch(`http://127.0.0.1:${httpPort}/`).then(() => true, () => offline.exitCode !== null),
    (done) => done,
    60_000,
  );
  assert.ok(up && offline.exitCode === null, `serverless offline did not start:\n${offlineOutput}`);
});

after(async () => {
  offline?.kill("SIGTERM");
  await Promise.all([...clusters.values()].map((cluster) => cluster.stop()));
  await moto?.stop();
});

/** One function, invoked through serverless offline's Lambda API; its answer. */
async function invoke<T>(name: "sync" | "worker", event: unknown): Promise<T> {
  const response = await fetch(`http://127.0.0.1:${lambdaPort}/2015-03-31/functions/external-endpoint-syncer-dev-${name}/invocations`, { method: "POST", body: JSON.stringify(event) });
  const text = await response.text();
  assert.equal(response.status, 200, text);
  return JSON.parse(text) as T;
}

const tick = (time: string) => invoke<{ dispatched?: number }>("sync", { "detail-type": "Scheduled Event", source: "aws.events", time, detail: {} });

/** The functions' JSON log lines so far, as CloudWatch would keep them. */
const logLines = () =>
  offlineOutput
    .split("\n")
    .filter((line) => line.includes('{"level"'))
    .map((line) => JSON.parse(line.slice(line.indexOf('{"level"'))) as Record<string, unknown>);

/** One worker run, as the poller saw it. */
interface Run {
  shard: string;
  tick: string;
  targets: string[];
  receives: number;
  start: number;
  end: number;
  failed: boolean;
}

/**
 * One receive at a time: moto's ReceiveMessage reads which groups are in flight and marks a message received
 * without a lock, so two at once can take the same message (it handed one shard to two pollers in one run of
 * this test), which SQS never does. The workers still run side by side.
 */
const receiving = pLimit(1);

function receive(): Promise<Message | undefined> {
  return receiving(receiveNow);
}

async function receiveNow(): Promise<Message | undefined> {
  const response = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1, MessageSystemAttributeNames: ["ApproximateReceiveCount"] }));
  return response.Messages?.[0];
}

const asRecord = (message: Message): SQSRecord =>
  ({
    messageId: message.MessageId!,
    receiptHandle: message.ReceiptHandle!,
    body: message.Body!,
    attributes: { ApproximateReceiveCount: message.Attributes!.ApproximateReceiveCount! },
    messageAttributes: {},
    md5OfBody: message.MD5OfBody!,
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:eu-west-1:123456789012:ees-shards.fifo",
    awsRegion: "eu-west-1",
  }) as SQSRecord;

/** What the event source mapping does for one message: call the worker, delete it unless it came back failed. */
async function deliver(message: Message, runs: Run[]): Promise<void> {
  const body = JSON.parse(message.Body!) as { shard: string; tick: string; targets: string[] };
  const start = performance.now();
  const response = await invoke<SQSBatchResponse>("worker", { Records: [asRecord(message)] });
  const failed = response.batchItemFailures.some((failure) => failure.itemIdentifier === message.MessageId);
  runs.push({ ...body, receives: Number(message.Attributes!.ApproximateReceiveCount), start, end: performance.now(), failed });
  if (!failed) await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle! }));
}

async function queueEmpty(url = queueUrl): Promise<boolean> {
  const attributes = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] }))).Attributes!;
  return attributes.ApproximateNumberOfMessages === "0" && attributes.ApproximateNumberOfMessagesNotVisible === "0";
}

/** `pollers` concurrent workers until the queue is empty (dead letters gone too), at most `timeoutMs`. */
async function drain(pollers: number, runs: Run[], timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  await Promise.all(
    Array.from({ length: pollers }, async () => {
      while (Date.now() < deadline) {
        const message = await receive();
        if (message) await deliver(message, runs);
        else if (await queueEmpty()) return;
      }
    }),
  );
  assert.ok(await queueEmpty(), "the queue drained in time");
}

async function deadLetters(): Promise<string[]> {
  const response = await sqs.send(new ReceiveMessageCommand({ QueueUrl: deadLetterUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }));
  return (response.Messages ?? []).map((message) => (JSON.parse(message.Body!) as { shard: string }).shard);
}

/** How often the syncer read each Service since `marks` (readTarget reads a target's Service once per sync). */
async function serviceReads(marks: Map<string, number>): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const [name, cluster] of clusters) {
    for (const event of await cluster.syncerRequestsSince(marks.get(name)!)) {
      if (event.verb === "get" && event.objectRef?.resource === "services") counts[`${name}-${event.objectRef.name}`] = (counts[`${name}-${event.objectRef.name}`] ?? 0) + 1;
    }
  }
  return counts;
}

const auditMarks = async () => new Map(await Promise.all([...clusters].map(async ([name, cluster]) => [name, await cluster.auditMark()] as const)));

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

describe("dispatcher and workers on SQS", { concurrency: false }, () => {
  it("a tick syncs every target exactly once, and the shard that always fails goes to the dead-letter queue without holding back the others", async (t) => {
    const marks = await auditMarks();
    const started = performance.now();
    const time = "2026-11-30T14:00:00Z";
    assert.equal((await tick(time)).dispatched, shards.length);
    // EventBridge delivers at least once: the same event again queues nothing new.
    await tick(time);

    const runs: Run[] = [];
    await drain(4, runs);
    const good = runs.filter((run) => !run.targets.includes(DOOMED));
    assert.deepEqual(good.map((run) => run.failed), good.map(() => false));
    t.diagnostic(`tick to every good target synced: ${Math.round(Math.max(...good.map((run) => run.end)) - started)} ms; ${runs.length} worker invocations`);
    assert.deepEqual(good.flatMap((run) => run.targets).sort(), [...goodTargets].sort(), `every target once: ${JSON.stringify(good.map((run) => [run.shard, run.tick, run.receives]))}`);
    const reads = await serviceReads(marks);
    for (const target of goodTargets) assert.equal(reads[target], 1, `${target}: synced once`);

    const doomed = runs.filter((run) => run.targets.includes(DOOMED));
    assert.deepEqual(
      doomed.map((run) => [run.shard, run.receives, run.failed]),
      Array.from({ length: MAX_RECEIVES }, (_, index) => [doomedShard, index + 1, true]),
    );
    assert.ok(good.every((run) => run.end <= doomed.at(-1)!.start), "every other shard was done before the doomed one's last receive");
    assert.deepEqual(await deadLetters(), [doomedShard]);
    const line = logLines().find((entry) => entry.message === "shard dead-lettered");
    assert.equal(line?.shard, doomedShard);
    assert.equal(line?.receives, MAX_RECEIVES);
    assert.match(String(line?.error), /c-doomed/);
    await assertPublished();
  });

  it("a worker killed mid-shard has its shard received again after the visibility timeout and finished, no object duplicated or lost", async () => {
    await tick("2026-11-30T14:01:00Z");
    const first = await receive();
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

    const child = spawn(process.execPath, [join(ROOT, "test/harness/worker-process.ts")], { stdio: ["pipe", "ignore", "inherit"], env: functionsEnv });
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
    await drain(4, runs);
    const again = runs.filter((run) => run.shard === killed.shard);
    assert.deepEqual(again.map((run) => [run.receives, run.failed]), [[2, false]], "received again, after the visibility timeout, and finished");
    await assertPublished();
  });

  it("two overlapping ticks never sync one target at once, and each syncs every target once", async () => {
    const marks = await auditMarks();
    await tick("2026-11-30T14:02:00Z");
    const runs: Run[] = [];
    const draining = drain(6, runs);
    // The next tick comes while the first one's shards are being synced.
    await sleep(300);
    await tick("2026-11-30T14:03:00Z");
    await draining;
    await drain(6, runs);
    assertNeverAtOnce(runs);
    for (const tick of ["2026-11-30T14:02:00Z", "2026-11-30T14:03:00Z"]) {
      assert.deepEqual(runs.filter((run) => run.tick === tick && !run.failed).flatMap((run) => run.targets).sort(), [...goodTargets].sort(), tick);
    }
    const reads = await serviceReads(marks);
    for (const target of goodTargets) assert.equal(reads[target], 2, `${target}: once per tick`);
    await assertPublished();
  });

  it("refuses a hostile message, naming the field and the value, and an unknown target by its name", async () => {
    for (const [body, expected] of [
      [JSON.stringify({ tick: "now", shard: "a/0", targets: ["a-s0"] }), /tick: expected an ISO 8601 time/],
      [JSON.stringify({ tick: "2026-11-30T14:04:00Z", shard: "x/0", targets: ["nobody"] }), /no target named "nobody"/],
      ["x".repeat(70_000), /shard message of 70000 bytes: expected at most 65536/],
    ] as const) {
      await sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: body, MessageGroupId: "hostile", MessageDeduplicationId: String(body.length) }));
      const message = await receive();
      assert.ok(message);
      const lines = logLines().length;
      const response = await invoke<SQSBatchResponse>("worker", { Records: [asRecord(message)] });
      assert.deepEqual(response.batchItemFailures, [{ itemIdentifier: message.MessageId }]);
      assert.match(String(logLines().slice(lines).find((entry) => entry.message === "shard failed, to be received again")?.error), expected);
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle! }));
    }
  });
});
