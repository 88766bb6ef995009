// The metrics the functions emit, read back from stdout as CloudWatch parses them (embedded metric format):
// every metric carries the stage dimension from EES_STAGE, and ColdStart is 1 on the first invocation only.
// The run is real (runSync over the in-memory fake API server, test/harness/fake-kube.ts); CloudWatch is not.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { Context } from "aws-lambda";
import { validateConfig } from "../../functions/config/load.ts";
import { runSync } from "../../functions/engine/run.ts";
import { FakeKube } from "../harness/fake-kube.ts";

type Emf = { _aws: { CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[] } } & Record<string, unknown>;

const lines: string[] = [];
const write = process.stdout.write;
let observability: typeof import("../../functions/observability.ts");

before(async () => {
  process.env.EES_STAGE = "prod";
  // As Lambda sets it on an on-demand environment: Powertools counts no cold start under provisioned concurrency.
  process.env.AWS_LAMBDA_INITIALIZATION_TYPE = "on-demand";
  // Read once, when the module loads, as on a Lambda cold start.
  observability = await import("../../functions/observability.ts");
  // JSON lines are ours (logs and metrics); anything else, the test runner's own, goes through.
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) =>
    typeof chunk === "string" && chunk.startsWith("{") ? lines.push(chunk) > 0 : write.call(process.stdout, chunk, ...rest)) as typeof process.stdout.write;
});
after(() => {
  process.stdout.write = write;
  delete process.env.EES_STAGE;
  delete process.env.AWS_LAMBDA_INITIALIZATION_TYPE;
});

const context = { functionName: "ees-prod-sync", awsRequestId: "req-1", invokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:ees-prod-sync" } as Context;
const emitted = (): Emf[] => lines.flatMap((line) => line.split("\n")).filter((line) => line.includes('"_aws"')).map((line) => JSON.parse(line) as Emf);
const named = (name: string) => emitted().filter((blob) => blob._aws.CloudWatchMetrics[0]!.Metrics.some((metric) => metric.Name === name));

describe("metrics in embedded metric format", () => {
  it("a ColdStart of 1 on the first invocation only, and the stage on it and on every target's metrics", async () => {
    const fake = new FakeKube();
    fake.seed({ kind: "Service", metadata: { name: "db", namespace: "shop" }, spec: { ports: [{ name: "pg", port: 5432, protocol: "TCP" }] } });
    const result = validateConfig({
      clusters: [{ name: "main" }],
      targets: [{ name: "db", cluster: "main", namespace: "shop", service: "db", ports: [{ name: "pg", port: 5432 }], sources: [{ static: [{ address: "192.0.2.10" }] }], check: { none: {} } }],
    });
    assert.ok(result.ok);

    for (let invocation = 0; invocation < 2; invocation++) {
      observability.startInvocation(context);
      observability.publishRun(await runSync(result.config, fake.connections()), result.config.metrics);
    }

    const coldStarts = named("ColdStart");
    assert.equal(coldStarts.length, 1, "one cold start in two invocations");
    assert.equal(coldStarts[0]!.ColdStart, 1);
    assert.equal(coldStarts[0]!.stage, "prod");
    assert.equal(coldStarts[0]!.function_name, "ees-prod-sync");
    assert.ok(coldStarts[0]!._aws.CloudWatchMetrics[0]!.Dimensions[0]!.includes("stage"));

    const synced = named("SyncFailed");
    assert.equal(synced.length, 2, "one set per target per invocation");
    for (const blob of synced) {
      assert.equal(blob.stage, "prod");
      assert.deepEqual([...blob._aws.CloudWatchMetrics[0]!.Dimensions[0]!].sort(), ["cluster", "service", "stage", "target"]);
      assert.equal(blob.SyncFailed, 0);
    }
  });
});
