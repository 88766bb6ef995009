// `targets[].check`: one schema per check kind, and the check entry that names exactly one of them.
import { RE2JS } from "re2js";
import * as z from "zod";
import { dnsSubdomain, exactlyOne, filePath, port, timeoutMs } from "./common.ts";

/** A limit in milliseconds on every check; `connectTimeoutMs` bounds the TCP (and TLS) connection alone. */
const checkTiming = {
  port: port.optional().describe("Probe this port instead of the target's first port."),
  timeoutMs: timeoutMs.default(2000).describe("The whole attempt: connection, handshake, request and answer."),
  connectTimeoutMs: timeoutMs.optional().describe("Default: half of timeoutMs, so black-holed backends free their slot early (see docs/configuration.md, Health checks)."),
};

function connectWithinTotal(check: { timeoutMs: number; connectTimeoutMs?: number | undefined }, ctx: z.RefinementCtx) {
  if (check.connectTimeoutMs !== undefined && check.connectTimeoutMs > check.timeoutMs) {
    ctx.addIssue({ code: "custom", path: ["connectTimeoutMs"], input: check.connectTimeoutMs, message: `expected at most timeoutMs (${check.timeoutMs})` });
  }
}

// Never a rule that could fail on the text itself: the problem list shows the value, and a key is a secret.
const pemText = z.string({ error: "expected PEM text" }).min(1, { error: "expected PEM text" });

/** How a check verifies the backend, and proves itself to it (mTLS). Paths are relative to the config file. */
const tlsFields = {
  caFile: filePath.optional().describe("CA bundle that signs the backends' certificates; default: Node's bundled public roots."),
  caPem: pemText.optional().describe("The CA bundle as PEM text, in place of caFile."),
  certFile: filePath.optional().describe("Client certificate and key, for backends that ask for one (mTLS)."),
  certPem: pemText.optional().describe("The client certificate as PEM text, in place of certFile."),
  keyFile: filePath.optional().describe("The client certificate's private key."),
  keyPem: pemText.optional().describe("The private key as PEM text, in place of keyFile; never shown in errors."),
  serverName: dnsSubdomain.optional().describe("Sent as SNI and required in the certificate; default: the backend's address."),
  insecureSkipVerify: z.boolean().default(false).describe("Accept any certificate. Only ever on purpose."),
};

type TlsFields = { [key in "caFile" | "caPem" | "certFile" | "certPem" | "keyFile" | "keyPem"]?: string | undefined } & { insecureSkipVerify: boolean };

function tlsConsistent(tls: TlsFields, ctx: z.RefinementCtx) {
  for (const [file, pem] of [["caFile", "caPem"], ["certFile", "certPem"], ["keyFile", "keyPem"]] as const) {
    // Reported at the file's path: the problem list shows the value there, and a PEM key must never show.
    if (tls[file] !== undefined && tls[pem] !== undefined) ctx.addIssue({ code: "custom", path: [file], message: `expected ${file} or ${pem}, not both` });
  }
  const hasCert = tls.certFile !== undefined || tls.certPem !== undefined;
  const hasKey = tls.keyFile !== undefined || tls.keyPem !== undefined;
  if (hasCert !== hasKey) ctx.addIssue({ code: "custom", path: [hasCert ? "keyFile" : "certFile"], message: "a client certificate needs its key, and a key its certificate" });
  if (tls.insecureSkipVerify && (tls.caFile !== undefined || tls.caPem !== undefined)) {
    ctx.addIssue({ code: "custom", path: ["insecureSkipVerify"], message: "insecureSkipVerify ignores the CA given: keep one" });
  }
}

const STATUS_RANGE = /^([1-5]\d\d)-([1-5]\d\d)$/;
const STATUS_ERROR = "expected a status code (200) or a range (\"200-399\")";
// Each branch carries the message too: zod reports the branch whose type matched, not the union's.
const statusMatcher = z.union(
  [
    z.int().min(100, { error: STATUS_ERROR }).max(599, { error: STATUS_ERROR }),
    z
      .string()
      .regex(STATUS_RANGE, { error: STATUS_ERROR, abort: true })
      // A range written high to low matches nothing, and every check would fail.
      .refine((range) => { const [low, high] = range.split("-").map(Number); return low! <= high!; }, { error: "expected a range from low to high" }),
  ],
  { error: STATUS_ERROR },
);

// Written into the request as they are: a CR or LF would let a value add headers of its own.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const headerName = z.string().regex(HEADER_NAME, { error: "expected a header name (letters, digits and !#$%&'*+.^_`|~-)" });
const headerValue = z.string().regex(/^[^\r\n\0]*$/, { error: "expected a header value without line breaks" });

/** RE2 matches in linear time, so no body can make a pattern backtrack for ever (docs/configuration.md, Health checks). */
function compilesAsRe2(source: string, ctx: z.RefinementCtx) {
  try {
    RE2JS.compile(source);
  } catch (error) {
    ctx.addIssue({ code: "custom", input: source, message: `expected a regular expression in RE2 syntax (${(error as Error).message})` });
  }
}

const bodyMatch = z
  .strictObject({
    contains: z.string().min(1).optional().describe("Passes when the body holds this text."),
    matches: z.string().min(1).superRefine(compilesAsRe2).optional().describe("Passes when this regular expression (RE2 syntax: no backreferences or lookaround) matches the body."),
    readLimitBytes: z.int().min(1).max(1_048_576, { error: "expected at most 1048576 (1 MiB)" }).default(65_536).describe("Read at most this much of the body; what lies beyond is never matched."),
  })
  .superRefine(exactlyOne(["contains", "matches"], "body match"));

const httpFields = {
  ...checkTiming,
  method: z.enum(["GET", "HEAD", "POST", "PUT", "OPTIONS"], { error: "expected GET, HEAD, POST, PUT or OPTIONS" }).default("GET").describe("The request's method."),
  path: z.string().startsWith("/", { error: "expected a path starting with /" }).regex(/^[^\s]*$/, { error: "expected a path without spaces" }).default("/").describe("The request's path, with its query if any."),
  headers: z.record(headerName, headerValue).optional().describe("Sent with every probe; `Host` here replaces the default (serverName, else the address)."),
  expectedStatus: z.array(statusMatcher).min(1).default(["200-399"]).describe("Default 200-399: a redirect still shows a live server, as HAProxy counts it."),
  body: bodyMatch.optional().describe("Passes only when the answer's body matches too."),
};

function httpConsistent(check: { method: string; body?: unknown }, ctx: z.RefinementCtx) {
  if (check.method === "HEAD" && check.body !== undefined) ctx.addIssue({ code: "custom", path: ["body"], message: "a HEAD answer has no body to match" });
}

const tcpCheckSchema = z.strictObject(checkTiming).superRefine(connectWithinTotal);
const tlsCheckSchema = z.strictObject({ ...checkTiming, ...tlsFields }).superRefine((check, ctx) => {
  connectWithinTotal(check, ctx);
  tlsConsistent(check, ctx);
});
const httpCheckSchema = z.strictObject(httpFields).superRefine((check, ctx) => {
  connectWithinTotal(check, ctx);
  httpConsistent(check, ctx);
});
const httpsCheckSchema = z.strictObject({ ...httpFields, ...tlsFields }).superRefine((check, ctx) => {
  connectWithinTotal(check, ctx);
  httpConsistent(check, ctx);
  tlsConsistent(check, ctx);
});
const etcdCheckSchema = tlsCheckSchema;
const grpcCheckSchema = z
  .strictObject({
    ...checkTiming,
    service: z.string().default("").describe("The service asked about in grpc.health.v1.Health/Check; \"\" is the server as a whole."),
    tls: z.strictObject(tlsFields).superRefine(tlsConsistent).optional().describe("Set to speak TLS (`tls: {}` for the defaults); absent, the connection is plaintext."),
  })
  .superRefine(connectWithinTotal);

const CHECK_KINDS = ["none", "tcp", "tls", "http", "https", "etcd", "grpc"] as const;

export const checkSchema = z
  .strictObject({
    none: z.strictObject({}).optional().describe("No check: every backend found is published ready, unless a source's own health signal says otherwise."),
    tcp: tcpCheckSchema.optional().describe("Passes when a TCP connection opens."),
    tls: tlsCheckSchema.optional().describe("Passes when a TLS handshake completes and the certificate verifies."),
    http: httpCheckSchema.optional().describe("Passes when an HTTP request gets an expected status (and body)."),
    https: httpsCheckSchema.optional().describe("An http check over TLS."),
    etcd: etcdCheckSchema.optional().describe("An etcd member over HTTPS: /readyz, or /health where the member has no /readyz."),
    grpc: grpcCheckSchema.optional().describe("Passes when grpc.health.v1.Health/Check answers SERVING."),
  })
  .superRefine(exactlyOne([...CHECK_KINDS], "check"));

export type CheckConfig = z.output<typeof checkSchema>;
