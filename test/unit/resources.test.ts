// serverless.yml's queue and the worker's role (infra/resources.ts) for what `sls package` in
// test/e2e/package.test.ts does not cover: a worker in a VPC may manage its network interfaces, and the queue
// hides a received shard for three worker timeouts, whatever the timeout.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { workerResources } from "../../infra/resources.ts";

const settings = { roleName: "ees-prod-eu-west-1-workerRole", logGroup: "/aws/lambda/ees-prod-worker", queuePrefix: "ees-prod", statements: [], workerTimeoutSeconds: 60, vpc: false };

describe("workerResources", () => {
  it("lets the worker's role manage its network interfaces in a VPC, and only there", () => {
    const vpcAccess = [{ "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole" }];
    assert.deepEqual(workerResources({ ...settings, vpc: true }).WorkerRole!.Properties.ManagedPolicyArns, vpcAccess);
    assert.equal(workerResources(settings).WorkerRole!.Properties.ManagedPolicyArns, undefined);
  });

  it("hides a received shard for three worker timeouts", () => {
    assert.equal(workerResources({ ...settings, workerTimeoutSeconds: 45 }).DispatchQueue!.Properties.VisibilityTimeout, 135);
  });
});
