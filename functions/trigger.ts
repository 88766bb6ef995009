import { timingSafeEqual } from "node:crypto";
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from "aws-lambda";
import * as z from "zod";
import { describeIssues } from "./config/issues.ts";
import { runSync, UnknownTargetError } from "./engine/run.ts";
import { optionalEnv } from "./env.ts";
import { logger, publishRun, startInvocation } from "./observability.ts";
import { summarize } from "./report/summary.ts";
import { functionRuntime } from "./runtime.ts";

const requestSchema = z.strictObject({
  targets: z.array(z.string().min(1), { error: "expected a list of target names" }).min(1, { error: "expected at least one target name" }).optional(),
  dryRun: z.boolean({ error: "expected true or false" }).optional(),
});

/** POST /sync: `{targets?, dryRun?}`. Only names come from the request: hosts and addresses never do. */
export async function handler(event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> {
  startInvocation(context);
  const refusal = authenticate(event);
  if (refusal) {
    logger.warn("sync trigger refused", { reason: refusal });
    return respond(401, { error: "unauthenticated", reason: refusal });
  }
  const body = parseBody(event.body);
  if (!body.ok) return respond(400, { error: "bad request", problems: body.problems });

  const { config, connections } = await functionRuntime();
  try {
    const report = await runSync(config, connections, body.request);
    publishRun(report);
    return respond(200, summarize(report));
  } catch (error) {
    if (error instanceof UnknownTargetError) return respond(404, { error: "unknown target", targets: error.names });
    throw error;
  }
}

/** Why the caller is refused, or undefined. Deployed, API Gateway checks AWS_IAM; offline, a bearer token does. */
function authenticate(event: APIGatewayProxyEvent): string | undefined {
  if (optionalEnv("IS_OFFLINE") === "true") {
    const token = optionalEnv("SYNC_TRIGGER_TOKEN");
    if (!token) return "SYNC_TRIGGER_TOKEN is not set, so no request can be let in";
    const header = Object.entries(event.headers ?? {}).find(([name]) => name.toLowerCase() === "authorization")?.[1] ?? "";
    const given = Buffer.from(header.replace(/^Bearer\s+/i, ""));
    const wanted = Buffer.from(token);
    return given.length === wanted.length && timingSafeEqual(given, wanted) ? undefined : "missing or wrong bearer token";
  }
  // Behind `authorizer: aws_iam` API Gateway verified the signature and names the caller here.
  return event.requestContext?.identity?.userArn ? undefined : "no IAM caller: the request was not signed";
}

function parseBody(text: string | null): { ok: true; request: z.infer<typeof requestSchema> } | { ok: false; problems: string[] } {
  let input: unknown = {};
  if (text && text.trim()) {
    try {
      input = JSON.parse(text);
    } catch {
      // JSON.parse's message quotes the text, and a caller may have put a token there.
      return { ok: false, problems: ["body is not JSON"] };
    }
  }
  const result = requestSchema.safeParse(input);
  return result.success ? { ok: true, request: result.data } : { ok: false, problems: describeIssues(result.error, input) };
}

function respond(statusCode: number, body: unknown): APIGatewayProxyResult {
  return { statusCode, headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
}
