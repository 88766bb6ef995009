// An HTTP proxy in front of moto that counts AWS calls by operation and, when told, answers some of them with
// the faults moto cannot make: throttling, 500s, access denied, or no answer at all. The SDK sees real HTTP, so
// its own retries run as they would against AWS. It also makes up for two things moto cannot do: serve a
// presigned STS URL (an EKS token's GetCallerIdentity), and name a real API server in DescribeCluster.
import { createServer, request, type IncomingMessage, type ServerResponse } from "node:http";
import type { Socket } from "node:net";

export type FaultKind = "throttle" | "serverError" | "accessDenied" | "hang";

export interface AwsCall {
  /** The operation: DescribeInstances, ListResourceRecordSets, AssumeRole, DescribeCluster... */
  operation: string;
  /** The request's form fields (query protocol: EC2, STS), else its URL query (Route 53, a presigned URL). */
  params: URLSearchParams;
  /** The request's User-Agent header. */
  userAgent?: string;
  /** The fault answered instead of moto's, if any. */
  fault?: FaultKind;
  /** How long moto took to answer in full, for a benchmark to tell its time from ours. */
  upstreamMs?: number;
}

export interface AwsProxy {
  endpoint: string;
  calls: AwsCall[];
  count(operation: string): number;
  /** Answers the given operations (all, when none are named) with `kind` until cleared with `undefined`. */
  fault(kind: FaultKind | undefined, operations?: string[]): void;
  /**
   * Every DescribeCluster answer names this API server and CA (base64 PEM, as EKS gives it) instead of the
   * ones moto invents, until cleared with `undefined`.
   */
  eksEndpoint(endpoint: { server: string; caData: string } | undefined): void;
  stop(): Promise<void>;
}

// Route 53 and EKS are REST: the operation is in the method and path.
const REST_OPERATIONS: [string, RegExp, string][] = [
  ["GET", /^\/2013-04-01\/hostedzone\/[^/]+\/rrset\/?$/, "ListResourceRecordSets"],
  ["GET", /^\/2013-04-01\/hostedzonesbyname\/?$/, "ListHostedZonesByName"],
  ["GET", /^\/2013-04-01\/healthcheck\/[^/]+\/status\/?$/, "GetHealthCheckStatus"],
  ["GET", /^\/clusters\/[^/]+\/?$/, "DescribeCluster"],
];

export async function startAwsProxy(target: string): Promise<AwsProxy> {
  const upstream = new URL(target);
  const calls: AwsCall[] = [];
  let active: { kind: FaultKind; operations?: string[] } | undefined;
  let eks: { server: string; caData: string } | undefined;
  const hanging = new Set<Socket>();

  const server = createServer(async (incoming, response) => {
    const body = await readBody(incoming);
    const call = describeCall(incoming, body);
    calls.push(call);
    if (active && (active.operations === undefined || active.operations.includes(call.operation))) {
      call.fault = active.kind;
      if (active.kind === "hang") {
        hanging.add(incoming.socket);
        return;
      }
      answerFault(response, active.kind, call.operation);
      return;
    }
    const started = performance.now();
    const rewrite = call.operation === "DescribeCluster" ? eks : undefined;
    const forwarded = request(
      { host: upstream.hostname, port: upstream.port, method: incoming.method, path: incoming.url, headers: headersForMoto(incoming) },
      (answer) => {
        answer.once("end", () => (call.upstreamMs = performance.now() - started));
        if (!rewrite || answer.statusCode !== 200) {
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(response);
          return;
        }
        void readBody(answer).then((json) => {
          const described = JSON.parse(json.toString("utf8")) as { cluster: { endpoint?: string; certificateAuthority?: { data?: string } } };
          described.cluster.endpoint = rewrite.server;
          described.cluster.certificateAuthority = { data: rewrite.caData };
          const body = JSON.stringify(described);
          response.writeHead(200, { ...answer.headers, "content-length": Buffer.byteLength(body) });
          response.end(body);
        }, (error: Error) => response.destroy(error));
      },
    );
    forwarded.on("error", (error) => response.destroy(error));
    forwarded.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    calls,
    count: (operation) => calls.filter((call) => call.operation === operation).length,
    fault(kind, operations) {
      active = kind && { kind, operations };
      if (kind !== "hang") for (const socket of hanging) socket.destroy();
    },
    eksEndpoint(endpoint) {
      eks = endpoint;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of hanging) socket.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function describeCall(incoming: IncomingMessage, body: Buffer): AwsCall {
  return { ...operationOf(incoming, body), userAgent: incoming.headers["user-agent"] };
}

function operationOf(incoming: IncomingMessage, body: Buffer): AwsCall {
  const url = new URL(incoming.url ?? "/", "http://proxy");
  const rest = REST_OPERATIONS.find(([method, path]) => method === incoming.method && path.test(url.pathname));
  if (rest) return { operation: rest[2], params: url.searchParams };
  if (url.pathname.startsWith("/2013-04-01/")) return { operation: `Route53 ${incoming.method} ${url.pathname}`, params: url.searchParams };
  const form = new URLSearchParams(body.toString("utf8"));
  const params = form.has("Action") ? form : url.searchParams;
  return { operation: params.get("Action") ?? `${incoming.method} ${url.pathname}`, params };
}

/**
 * moto picks the service from the Authorization header's credential scope, and a presigned URL has none (its
 * signature is in the query): it would answer as S3. The same signature, moved into the header, reaches STS.
 */
function headersForMoto(incoming: IncomingMessage): IncomingMessage["headers"] {
  const query = new URL(incoming.url ?? "/", "http://proxy").searchParams;
  const credential = query.get("X-Amz-Credential");
  if (incoming.headers.authorization || !credential) return incoming.headers;
  const authorization = `AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=${query.get("X-Amz-SignedHeaders")}, Signature=${query.get("X-Amz-Signature")}`;
  return { ...incoming.headers, authorization };
}

/** The error bodies AWS sends: EC2's query-protocol XML, or Route 53's and STS's ErrorResponse. */
function answerFault(response: ServerResponse, kind: Exclude<FaultKind, "hang">, operation: string): void {
  const ec2 = !["ListResourceRecordSets", "ListHostedZonesByName", "GetHealthCheckStatus", "AssumeRole"].includes(operation);
  const [status, code, message] = {
    throttle: ec2 ? [503, "RequestLimitExceeded", "Request limit exceeded."] : [400, "Throttling", "Rate exceeded"],
    serverError: ec2 ? [500, "InternalError", "An internal error has occurred"] : [500, "InternalFailure", "An internal failure occurred"],
    accessDenied: ec2
      ? [403, "UnauthorizedOperation", `You are not authorized to perform this operation (${operation}).`]
      : [403, "AccessDenied", `User is not authorized to perform: ${operation === "AssumeRole" ? "sts" : "route53"}:${operation}`],
  }[kind] as [number, string, string];
  const xml = ec2
    ? `<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>${code}</Code><Message>${message}</Message></Error></Errors><RequestID>fault-proxy</RequestID></Response>`
    : `<?xml version="1.0"?><ErrorResponse><Error><Type>Sender</Type><Code>${code}</Code><Message>${message}</Message></Error><RequestId>fault-proxy</RequestId></ErrorResponse>`;
  response.writeHead(status, { "content-type": "text/xml" });
  response.end(xml);
}

async function readBody(incoming: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
