import { timingSafeEqual } from "node:crypto";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import * as z from "zod";
import { describeIssues } from "./config/issues.ts";
import { runSync, UnknownTargetError } from "./engine/run.ts";
import { installationId, optionalEnv } from "./env.ts";
import { errorMessage } from "./errors.ts";
import { logger, publishRun, startInvocation } from "./observability.ts";
import { summarize } from "./report/summary.ts";
import { API_GATEWAY_LIMIT_MS, functionRuntime, runDeadline, type Runtime } from "./runtime.ts";

/** The largest body taken, after base64 decoding: a request carries only target names and dryRun. */
export const MAX_BODY_BYTES = 65_536;
export const MAX_TARGET_NAMES = 1_000;
/** Error responses list at most this many names or problems, and count the rest in `omitted`. */
export const MAX_LISTED = 20;
/** A config error can list thousands of problems; the response carries their start. */
const MAX_REASON_CHARS = 4_096;

const requestSchema = z.strictObject({
  targets: z
    .array(z.string().min(1).max(63, { error: "expected at most 63 characters (a target name is a DNS label)" }), { error: "expected a list of target names" })
    .min(1, { error: "expected at least one target name" })
    .max(MAX_TARGET_NAMES, { error: `expected at most ${MAX_TARGET_NAMES} target names` })
    .optional(),
  dryRun: z.boolean({ error: "expected true or false" }).optional(),
});

/** POST /sync: `{targets?, dryRun?}`. Only names come from the request: hosts and addresses never do. */
export async function handler(event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> {
  startInvocation(context);
  try {
    const refusal = authenticate(event);
    if (refusal) {
      logger.warn("sync trigger refused", { reason: refusal });
      return respond(401, { error: "unauthenticated", reason: refusal });
    }
    const body = parseBody(event);
    if ("response" in body) return body.response;

    let runtime: Runtime;
    try {
      runtime = await functionRuntime();
    } catch (error) {
      // The error's own message: config errors name the field and value, never the file's text.
      const reason = bounded(errorMessage(error), MAX_REASON_CHARS);
      logger.error("config unavailable", { reason });
      return respond(500, { error: "config unavailable", reason });
    }
    const report = await runSync(runtime.config, runtime.connections, { ...body.request, installation: installationId(), deadline: runDeadline(context, API_GATEWAY_LIMIT_MS) });
    publishRun(report, runtime.config.metrics);
    return respond(200, summarize(report));
  } catch (error) {
    if (error instanceof UnknownTargetError) return respond(404, { error: "unknown target", ...listed("targets", error.names) });
    // API Gateway would turn a throw into a bare 502; the log line carries what the caller is not shown.
    logger.error("sync trigger failed", { error: errorMessage(error) });
    return respond(500, { error: "internal error", requestId: context.awsRequestId });
  }
}

/** Why the caller is refused, or undefined. Deployed, API Gateway checks AWS_IAM; offline, a bearer token does. */
function authenticate(event: APIGatewayProxyEvent): string | undefined {
  if (optionalEnv("IS_OFFLINE") === "true") {
    const token = optionalEnv("SYNC_TRIGGER_TOKEN");
    if (!token) return "SYNC_TRIGGER_TOKEN is not set, so no request can be let in";
    const header = Object.entries(event.headers ?? {}).find(([name]) => name.toLowerCase() === "authorization")?.[1];
    if (!header) return "missing bearer token";
    // The scheme is case-insensitive (RFC 7235), but it must be there: a bare token is not a credential.
    const bearer = /^Bearer +(\S+)$/i.exec(header);
    if (!bearer) return "expected Authorization: Bearer <token>";
    const given = Buffer.from(bearer[1]!);
    const wanted = Buffer.from(token);
    return given.length === wanted.length && timingSafeEqual(given, wanted) ? undefined : "wrong bearer token";
  }
  // Behind `authorizer: aws_iam` API Gateway verified the signature and names the caller here.
  return event.requestContext?.identity?.userArn ? undefined : "no IAM caller: the request was not signed";
}

// Standard base64, padded, as API Gateway and serverless offline encode binary bodies.
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The request, or the response refusing it. The size is checked before anything is decoded or parsed. */
function parseBody(event: APIGatewayProxyEvent): { request: z.infer<typeof requestSchema> } | { response: APIGatewayProxyResult } {
  const raw = event.body ?? "";
  // For base64 this is the decoded size, computed from the length alone.
  const bytes = Buffer.byteLength(raw, event.isBase64Encoded ? "base64" : "utf8");
  if (bytes > MAX_BODY_BYTES) {
    return { response: respond(413, { error: "body too large", reason: `the body is ${bytes} bytes, over the limit of ${MAX_BODY_BYTES}` }) };
  }
  if (event.isBase64Encoded && !BASE64.test(raw)) return badRequest(["body is marked base64-encoded but is not valid base64"]);
  const text = event.isBase64Encoded ? Buffer.from(raw, "base64").toString("utf8") : raw;

  let input: unknown = {};
  if (text.trim()) {
    try {
      input = JSON.parse(text);
    } catch {
      // JSON.parse's message quotes the text, and a caller may have put a token there.
      return badRequest(["body is not JSON"]);
    }
  }
  const result = requestSchema.safeParse(input);
  return result.success ? { request: result.data } : badRequest(describeIssues(result.error, input));
}

function badRequest(problems: string[]): { response: APIGatewayProxyResult } {
  return { response: respond(400, { error: "bad request", ...listed("problems", problems) }) };
}

/** The first MAX_LISTED items under `key`, and how many were left out. */
function listed<K extends string>(key: K, items: string[]): Record<K, string[]> & { omitted?: number } {
  const shown = { [key]: items.slice(0, MAX_LISTED) } as Record<K, string[]>;
  return items.length > MAX_LISTED ? { ...shown, omitted: items.length - MAX_LISTED } : shown;
}

function bounded(text: string, maxChars: number): string {
  return text.length > maxChars ? `${text.slice(0, maxChars)}... (${text.length - maxChars} more characters)` : text;
}

function respond(statusCode: number, body: unknown): APIGatewayProxyResult {
  return { statusCode, headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
}
