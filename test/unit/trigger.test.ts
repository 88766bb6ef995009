// The HTTP trigger's edges, deployed (no IS_OFFLINE): API Gateway's AWS_IAM authorizer names the caller, and a
// request without one is refused before anything else happens. Offline is covered in test/e2e/offline.test.ts.
//
// Cases: no IAM caller is 401; a bad body is 400 with the problems, at most MAX_LISTED of them; a body over
// MAX_BODY_BYTES is 413 before it is parsed, counted after base64 decoding; a base64 body is decoded, and
// invalid base64 is 400; more than MAX_TARGET_NAMES names is 400; a config that cannot load is 500 with its
// reason (the start of it, for thousands of problems) and nothing of the file; unknown targets are 404 with at most MAX_LISTED names; an event the handler
// cannot read is 500 with only the request id, and the reason is logged.
// The config failure runs first: a config that loaded is kept for the process (functions/runtime.ts).
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, it } from "node:test";
import type { APIGatewayProxyEvent, Context } from "aws-lambda";
import { stringify } from "yaml";
import { handler, MAX_BODY_BYTES, MAX_LISTED, MAX_TARGET_NAMES } from "../../functions/trigger.ts";

const context = { awsRequestId: "invocation-1", functionName: "trigger", invokedFunctionArn: "arn:aws:lambda:eu-west-1:123456789012:function:trigger", getRemainingTimeInMillis: () => 30_000 } as Context;
const CALLER = "arn:aws:iam::123456789012:user/ops";
// Seeded where a careless error would quote the config file.
const SECRET = "SEEDED-SECRET-7f3a9c";

function event(body: string | null, userArn: string | null = CALLER, isBase64Encoded = false): APIGatewayProxyEvent {
  return { body, isBase64Encoded, headers: {}, requestContext: { identity: { userArn } } } as unknown as APIGatewayProxyEvent;
}

async function post(body: string | null, isBase64Encoded = false) {
  const response = await handler(event(body, CALLER, isBase64Encoded), context);
  return { status: response.statusCode, body: JSON.parse(response.body) as Record<string, unknown>, bytes: response.body.length };
}

describe("trigger handler, deployed", () => {
  const saved = { ...process.env };
  let dir: string;
  let goodConfig: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "ees-trigger-"));
    goodConfig = join(dir, "good.yaml");
    const target = (name: string) => ({
      name,
      cluster: "local",
      namespace: "shop",
      service: name,
      ports: [{ name: "http", port: 80 }],
      sources: [{ static: [{ address: "192.0.2.10" }] }],
      check: { none: {} },
    });
    // Never connected to: unknown names are refused before any cluster is reached.
    await writeFile(goodConfig, stringify({ clusters: [{ name: "local", kubeconfig: join(dir, "no-kubeconfig") }], targets: [target("alpha"), target("beta")] }));
  });
  after(() => rm(dir, { recursive: true, force: true }));
  beforeEach(() => {
    delete process.env.IS_OFFLINE;
    // A token must not open the deployed function: only IAM does.
    process.env.SYNC_TRIGGER_TOKEN = "token";
    process.env.EES_CONFIG = goodConfig;
  });
  afterEach(() => {
    process.env = { ...saved };
  });

  it("answers 500 with the reason when the config cannot load, quoting nothing of the file", async () => {
    const broken = join(dir, "broken.yaml");
    await writeFile(broken, stringify({ clusters: [{ name: "local", inCluster: true }], targets: [{ name: "alpha", cluster: "local", check: { tls: { keyPem: SECRET } } }] }));
    process.env.EES_CONFIG = broken;
    const invalid = await post("{}");
    assert.equal(invalid.status, 500);
    assert.equal(invalid.body.error, "config unavailable");
    assert.match(String(invalid.body.reason), new RegExp(`invalid config ${broken}`));
    assert.match(String(invalid.body.reason), /targets\[0\]\.namespace/);
    assert.equal(JSON.stringify(invalid.body).includes(SECRET), false, "no secret from the file in the response");

    // Thousands of problems: the response carries the first 4,096 characters of the message.
    await writeFile(broken, stringify({ clusters: [{ name: "local", inCluster: true }], targets: Array.from({ length: 2_000 }, (_, index) => ({ name: `t${index}` })) }));
    const many = await post("{}");
    assert.equal(many.status, 500);
    assert.match(String(many.body.reason), /^invalid config .*targets\[0\]\.cluster: expected a string, got nothing\n/s);
    assert.match(String(many.body.reason), /\.\.\. \(\d+ more characters\)$/);
    assert.ok(many.bytes < 5_000, `${many.bytes} bytes`);

    process.env.EES_CONFIG = join(dir, "missing.yaml");
    const missing = await post("{}");
    assert.equal(missing.status, 500);
    assert.match(String(missing.body.reason), /cannot read the file: ENOENT/);
  });

  it("refuses a request that API Gateway did not attribute to an IAM caller", async () => {
    const response = await handler({ ...event("{}", null), headers: { Authorization: "Bearer token" } }, context);
    assert.equal(response.statusCode, 401);
    assert.match(response.body, /no IAM caller/);
  });

  it("checks the body of a signed request before running anything", async () => {
    const response = await post(JSON.stringify({ dryRun: "yes" }));
    assert.equal(response.status, 400);
    assert.deepEqual(response.body.problems, ['dryRun: expected true or false, got "yes"']);
  });

  it("lists at most MAX_LISTED problems of a bad body and counts the rest", async () => {
    const response = await post(JSON.stringify({ targets: Array.from({ length: 500 }, () => 7) }));
    assert.equal(response.status, 400);
    assert.equal((response.body.problems as string[]).length, MAX_LISTED);
    assert.equal(response.body.omitted, 500 - MAX_LISTED);
  });

  it("refuses more than MAX_TARGET_NAMES names, and names longer than a target name can be", async () => {
    const many = await post(JSON.stringify({ targets: Array.from({ length: MAX_TARGET_NAMES + 1 }, (_, index) => `t${index}`) }));
    assert.equal(many.status, 400);
    assert.match(String((many.body.problems as string[])[0]), new RegExp(`^targets: expected at most ${MAX_TARGET_NAMES} target names`));
    const long = await post(JSON.stringify({ targets: ["a".repeat(64)] }));
    assert.equal(long.status, 400);
    assert.match(String((long.body.problems as string[])[0]), /^targets\[0\]: expected at most 63 characters/);
  });

  it("answers 413 for a body over MAX_BODY_BYTES, before parsing it", async () => {
    // Not JSON at all: a parse would answer 400.
    const response = await post("x".repeat(MAX_BODY_BYTES + 1));
    assert.equal(response.status, 413);
    assert.deepEqual(response.body, { error: "body too large", reason: `the body is ${MAX_BODY_BYTES + 1} bytes, over the limit of ${MAX_BODY_BYTES}` });
    // Bytes, not characters.
    assert.equal((await post("é".repeat(MAX_BODY_BYTES / 2 + 1))).status, 413);
  });

  it("decodes a base64 body, and applies the limit to its decoded size", async () => {
    const base64 = (text: string) => Buffer.from(text).toString("base64");
    const encoded = await post(base64(JSON.stringify({ targets: ["alpha", "nope"], dryRun: true })), true);
    assert.equal(encoded.status, 404);
    assert.deepEqual(encoded.body.targets, ["nope"]);
    const badShape = await post(base64(JSON.stringify({ dryRun: 1 })), true);
    assert.deepEqual(badShape.body.problems, ["dryRun: expected true or false, got 1"]);

    const padding = " ".repeat(MAX_BODY_BYTES - 1);
    assert.notEqual((await post(base64(`${padding}{`), true)).status, 413, "exactly the limit, decoded, is taken");
    const over = await post(base64(`${padding}{}`), true);
    assert.equal(over.status, 413);
    assert.match(String(over.body.reason), new RegExp(`the body is ${MAX_BODY_BYTES + 1} bytes`));
  });

  it("refuses a body marked base64 that is not", async () => {
    for (const body of ["{\"dryRun\":true}", "eyJ9=x", "abc"]) {
      const response = await post(body, true);
      assert.equal(response.status, 400, body);
      assert.deepEqual(response.body.problems, ["body is marked base64-encoded but is not valid base64"]);
    }
  });

  it("answers 404 for unknown targets with at most MAX_LISTED names and the count of the rest", async () => {
    const unknown = Array.from({ length: MAX_TARGET_NAMES - 1 }, (_, index) => `unknown-${String(index).padStart(4, "0")}-${"x".repeat(40)}`);
    const response = await post(JSON.stringify({ targets: ["alpha", ...unknown] }));
    assert.equal(response.status, 404);
    assert.deepEqual(response.body.targets, unknown.slice(0, MAX_LISTED));
    assert.equal(response.body.omitted, unknown.length - MAX_LISTED);
    assert.ok(response.bytes < 2_000, `${response.bytes} bytes`);

    const one = await post(JSON.stringify({ targets: ["gamma"] }));
    assert.deepEqual(one.body, { error: "unknown target", targets: ["gamma"] });
  });

  it("answers an event it cannot read with 500 and the request id only, and logs why", async (t) => {
    // Powertools writes JSON lines, errors to stderr.
    let lines = "";
    t.mock.method(process.stderr, "write", (chunk: string | Uint8Array) => ((lines += String(chunk)), true));
    // API Gateway always sends a string or null; a handler must still never throw.
    const response = await handler(event(42 as unknown as string), context);
    t.mock.restoreAll();
    assert.equal(response.statusCode, 500);
    assert.deepEqual(JSON.parse(response.body), { error: "internal error", requestId: "invocation-1" });
    const line = JSON.parse(lines.split("\n").find((text) => text.includes("sync trigger failed"))!) as Record<string, unknown>;
    assert.equal(line.level, "ERROR");
    assert.match(String(line.error), /argument must be of type string/);
    assert.equal(line.function_request_id, "invocation-1");
  });
});
