// The HTTP trigger's gate, deployed (no IS_OFFLINE): API Gateway's AWS_IAM authorizer names the caller,
// and a request without one is refused before anything else happens. Offline is covered in test/e2e.
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { APIGatewayProxyEvent, Context } from "aws-lambda";
import { handler } from "../../functions/trigger.ts";

const context = { awsRequestId: "invocation-1", functionName: "trigger", invokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:trigger", getRemainingTimeInMillis: () => 30_000 } as Context;

function event(body: string, userArn: string | null): APIGatewayProxyEvent {
  return { body, headers: {}, requestContext: { identity: { userArn } } } as unknown as APIGatewayProxyEvent;
}

describe("trigger handler, deployed", () => {
  const saved = { ...process.env };
  beforeEach(() => {
    delete process.env.IS_OFFLINE;
    // A token must not open the deployed function: only IAM does.
    process.env.SYNC_TRIGGER_TOKEN = "token";
    process.env.EES_CONFIG = "/nonexistent/config.yaml";
  });
  afterEach(() => {
    process.env = { ...saved };
  });

  it("refuses a request that API Gateway did not attribute to an IAM caller", async () => {
    const response = await handler({ ...event("{}", null), headers: { Authorization: "Bearer token" } }, context);
    assert.equal(response.statusCode, 401);
    assert.match(response.body, /no IAM caller/);
  });

  it("checks the body of a signed request before running anything", async () => {
    const response = await handler(event(JSON.stringify({ dryRun: "yes" }), "arn:aws:iam::123456789012:user/ops"), context);
    assert.equal(response.statusCode, 400);
    assert.deepEqual(JSON.parse(response.body).problems, ['dryRun: expected true or false, got "yes"']);
  });
});
