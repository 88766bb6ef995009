// The worker function in a process of its own, for a test to kill mid-shard: reads one SQS record (JSON) on
// stdin, runs functions/worker.ts's handler on it with the environment it was given, and prints its answer.
import { text } from "node:stream/consumers";
import type { Context, SQSRecord } from "aws-lambda";
import { handler } from "../../functions/worker.ts";

const record = JSON.parse(await text(process.stdin)) as SQSRecord;
const context = { functionName: "worker", awsRequestId: "worker-process", getRemainingTimeInMillis: () => 30_000 } as Context;
process.stdout.write(JSON.stringify(await handler({ Records: [record] }, context)));
