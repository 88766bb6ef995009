// The dispatcher and its workers under serverless offline, against moto's SQS over the wire: a FIFO queue with a
// dead-letter queue, the functions as the bundles serverless offline builds, invoked through its Lambda API, and
// pollers that stand in for Lambda's SQS event source mapping, which neither moto nor serverless offline runs.
// A poller receives one message at a time, invokes the worker with it, and deletes what the worker did not return
// as failed, as the mapping does with ReportBatchItemFailures; N pollers at once are the worker's reserved
// concurrency. Used by test/e2e/dispatch.test.ts and test/bench/dispatch.bench.ts.
import { spawn, type ChildProcess } from "node:child_process";
import { dirname, join } from "node:path";
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SQSClient,
  type Message,
} from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSRecord } from "aws-lambda";
import pLimit from "p-limit";
import { eventually, type TestCluster } from "./cluster.ts";
import { freePort, startMoto } from "./moto.ts";

const ROOT = join(import.meta.dirname, "../..");

/** One worker run, as a poller saw it. */
export interface Run {
  shard: string;
  tick: string;
  targets: string[];
  receives: number;
  start: number;
  end: number;
  failed: boolean;
}

export interface Dispatch {
  sqs: SQSClient;
  queueUrl: string;
  deadLetterUrl: string;
  /** The functions' environment, for a worker run outside offline (test/harness/worker-process.ts). */
  functionsEnv: NodeJS.ProcessEnv;
  /** One function, invoked through serverless offline's Lambda API; its answer. */
  invoke<T>(name: "sync" | "worker", event: unknown): Promise<T>;
  /** The scheduled function, as EventBridge invokes it at `time`. */
  tick(time: string): Promise<{ dispatched?: number }>;
  /** The functions' JSON log lines so far, as CloudWatch would keep them. */
  logLines(): Record<string, unknown>[];
  /** The next message, if one comes within a second. */
  receive(): Promise<Message | undefined>;
  /** What the event source mapping does for one message: call the worker, delete it unless it came back failed. */
  deliver(message: Message, runs: Run[]): Promise<void>;
  /** `pollers` concurrent workers until the queue is empty (dead letters gone too); throws after `timeoutMs`. */
  drain(pollers: number, runs: Run[], timeoutMs?: number): Promise<void>;
  /** The shards in the dead-letter queue (one receive: moto may hand out fewer than it holds). */
  deadLetters(): Promise<string[]>;
  /** How many messages the dead-letter queue holds. */
  deadLetterCount(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * moto, the shard queue (`visibilitySeconds`, to the dead-letter queue after `maxReceives`) and serverless
 * offline with `configFile`, no schedule: the caller invokes the scheduled function itself, tick by tick.
 */
export async function startDispatch(options: { configFile: string; visibilitySeconds: number; maxReceives: number }): Promise<Dispatch> {
  const moto = await startMoto();
  process.env.AWS_REGION = "eu-west-1";
  const sqs = new SQSClient({ endpoint: moto.endpoint });
  let offline: ChildProcess | undefined;
  const stop = async () => {
    offline?.kill("SIGTERM");
    await moto.stop();
  };
  try {
    const deadLetter = await sqs.send(new CreateQueueCommand({ QueueName: "ees-dead-letter.fifo", Attributes: { FifoQueue: "true" } }));
    const deadLetterUrl = deadLetter.QueueUrl!;
    const deadLetterArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: deadLetterUrl, AttributeNames: ["QueueArn"] }))).Attributes!.QueueArn!;
    const queue = await sqs.send(
      new CreateQueueCommand({
        QueueName: "ees-shards.fifo",
        Attributes: {
          FifoQueue: "true",
          VisibilityTimeout: String(options.visibilitySeconds),
          RedrivePolicy: JSON.stringify({ deadLetterTargetArn: deadLetterArn, maxReceiveCount: options.maxReceives }),
        },
      }),
    );
    const queueUrl = queue.QueueUrl!;

    const httpPort = await freePort();
    const lambdaPort = await freePort();
    const functionsEnv = {
      ...process.env,
      // The sls script runs on the `node` of the PATH: this one, whatever the caller's PATH holds.
      PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ""}`,
      EES_INSTALLATION: "external-endpoint-syncer-dev",
      EES_CONFIG: options.configFile,
      EES_DISPATCH_QUEUE_URL: queueUrl,
      EES_MAX_RECEIVE_COUNT: String(options.maxReceives),
      OFFLINE_HTTP_PORT: String(httpPort),
      OFFLINE_LAMBDA_PORT: String(lambdaPort),
    };
    let output = "";
    const started = spawn(join(ROOT, "node_modules/.bin/sls"), ["offline", "start", "--param=syncSchedule=false"], { cwd: ROOT, env: functionsEnv, stdio: ["ignore", "pipe", "pipe"] });
    offline = started;
    started.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    started.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    const up = await eventually(
      () => fetch(`http://127.0.0.1:${httpPort}/`).then(() => true, () => started.exitCode !== null),
      (done) => done,
      60_000,
    );
    if (!up || started.exitCode !== null) throw new Error(`serverless offline did not start:\n${output}`);

    const invoke = async <T>(name: "sync" | "worker", event: unknown): Promise<T> => {
      const response = await fetch(`http://127.0.0.1:${lambdaPort}/2015-03-31/functions/external-endpoint-syncer-dev-${name}/invocations`, { method: "POST", body: JSON.stringify(event) });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`${name}: HTTP ${response.status}: ${text}`);
      return JSON.parse(text) as T;
    };

    /**
     * One receive at a time: moto's ReceiveMessage reads which groups are in flight and marks a message received
     * without a lock, so two at once can take the same message (it handed one shard to two pollers in one run of
     * the e2e test), which SQS never does. The workers still run side by side.
     */
    const receiving = pLimit(1);
    const receive = () =>
      receiving(async () => {
        const response = await sqs.send(new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 1, WaitTimeSeconds: 1, MessageSystemAttributeNames: ["ApproximateReceiveCount"] }));
        return response.Messages?.[0];
      });

    const deliver = async (message: Message, runs: Run[]) => {
      const body = JSON.parse(message.Body!) as { shard: string; tick: string; targets: string[] };
      const start = performance.now();
      const response = await invoke<SQSBatchResponse>("worker", { Records: [asRecord(message)] });
      if (!Array.isArray(response.batchItemFailures)) throw new Error(`the worker answered no batchItemFailures: ${JSON.stringify(response).slice(0, 2000)}`);
      const failed = response.batchItemFailures.some((failure) => failure.itemIdentifier === message.MessageId);
      runs.push({ ...body, receives: Number(message.Attributes!.ApproximateReceiveCount), start, end: performance.now(), failed });
      if (!failed) await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle! }));
    };

    const queueEmpty = async () => {
      const attributes = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"] }))).Attributes!;
      return attributes.ApproximateNumberOfMessages === "0" && attributes.ApproximateNumberOfMessagesNotVisible === "0";
    };

    return {
      sqs,
      queueUrl,
      deadLetterUrl,
      functionsEnv,
      invoke,
      tick: (time) => invoke("sync", { "detail-type": "Scheduled Event", source: "aws.events", time, detail: {} }),
      logLines: () =>
        output
          .split("\n")
          .filter((line) => line.includes('{"level"'))
          .map((line) => JSON.parse(line.slice(line.indexOf('{"level"'))) as Record<string, unknown>),
      receive,
      deliver,
      async drain(pollers, runs, timeoutMs = 90_000) {
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
        if (!(await queueEmpty())) throw new Error(`the queue did not drain in ${timeoutMs} ms`);
      },
      async deadLetters() {
        const response = await sqs.send(new ReceiveMessageCommand({ QueueUrl: deadLetterUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }));
        return (response.Messages ?? []).map((message) => (JSON.parse(message.Body!) as { shard: string }).shard);
      },
      async deadLetterCount() {
        const attributes = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: deadLetterUrl, AttributeNames: ["ApproximateNumberOfMessages"] }))).Attributes!;
        return Number(attributes.ApproximateNumberOfMessages);
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** A received message as the event source mapping hands it to the worker. */
export const asRecord = (message: Message): SQSRecord =>
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

/** Each cluster's audit log length now, for auditSince. */
export const auditMarks = async (clusters: Map<string, TestCluster>) => new Map(await Promise.all([...clusters].map(async ([name, cluster]) => [name, await cluster.auditMark()] as const)));

/** The syncer's requests to each cluster since `marks`, with the cluster's name. */
export async function syncerRequestsSince(clusters: Map<string, TestCluster>, marks: Map<string, number>) {
  const requests = await Promise.all([...clusters].map(async ([name, cluster]) => (await cluster.syncerRequestsSince(marks.get(name)!)).map((event) => ({ cluster: name, ...event }))));
  return requests.flat();
}

/** How often the syncer read each Service (`cluster-service`) since `marks`: readTarget reads a target's Service once per sync. */
export async function serviceReads(clusters: Map<string, TestCluster>, marks: Map<string, number>): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const event of await syncerRequestsSince(clusters, marks)) {
    if (event.verb === "get" && event.objectRef?.resource === "services") counts[`${event.cluster}-${event.objectRef.name}`] = (counts[`${event.cluster}-${event.objectRef.name}`] ?? 0) + 1;
  }
  return counts;
}
