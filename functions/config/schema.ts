import { isIP } from "node:net";
import { RE2JS } from "re2js";
import * as z from "zod";

// Kubernetes name rules, so a bad name fails here and not as a 422 halfway through a run.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const dnsLabel = z
  .string({ error: "expected a string" })
  .max(63, { error: "expected at most 63 characters" })
  .regex(DNS_LABEL, { error: "expected a DNS label (lower-case letters, digits and '-')" });

const dnsSubdomain = z
  .string({ error: "expected a string" })
  .max(253, { error: "expected at most 253 characters" })
  .regex(DNS_SUBDOMAIN, { error: "expected a DNS name (lower-case letters, digits, '-' and '.')" });

const port = z.int({ error: "expected an integer 1-65535" }).min(1, { error: "expected 1-65535" }).max(65535, { error: "expected 1-65535" });
const timeoutMs = z.int({ error: "expected milliseconds as an integer" }).min(1, { error: "expected at least 1 ms" }).max(60_000, { error: "expected at most 60000 ms" });

/** Exactly one of `keys` is set: how the config names a variant (`check: { tcp: {} }`). */
function exactlyOne<T extends Record<string, unknown>>(keys: (keyof T & string)[], what: string) {
  return (value: T, ctx: z.RefinementCtx) => {
    const present = keys.filter((key) => value[key] !== undefined);
    if (present.length !== 1) {
      ctx.addIssue({
        code: "custom",
        message: present.length === 0 ? `expected one ${what}: ${keys.join(", ")}` : `expected only one ${what}, got ${present.join(" and ")}`,
      });
    }
  };
}

const awsRegion = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { error: "expected an AWS region such as eu-west-1" });
const roleArn = z.string().regex(/^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@\/-]+$/, { error: "expected an IAM role ARN" });

/** Where a cluster's kubeconfig or credentials come from: at most one; none means KUBECONFIG or ~/.kube/config. */
const CLUSTER_ACCESS = ["kubeconfig", "kubeconfigData", "inCluster", "eks", "kubeconfigParameter", "kubeconfigSecret"] as const;
/** Kubeconfigs whose writer need not be whoever runs the function: their plugins are refused unless allowed. */
const STORED_KUBECONFIG = ["kubeconfigData", "kubeconfigParameter", "kubeconfigSecret"] as const;

export const clusterSchema = z
  .strictObject({
    name: dnsLabel,
    /** Path to a kubeconfig file; `~` and paths relative to the config file work. */
    kubeconfig: z.string().min(1).optional(),
    /** A whole kubeconfig inline, as YAML text. */
    kubeconfigData: z.string().min(1).optional(),
    inCluster: z.literal(true, { error: "expected true" }).optional(),
    /** An EKS cluster: endpoint and CA from DescribeCluster, a token signed with the function's (or the role's) credentials. */
    eks: z.strictObject({ name: z.string().min(1).max(100), region: awsRegion, roleArn: roleArn.optional() }).optional(),
    /** A kubeconfig kept in an SSM SecureString parameter. */
    kubeconfigParameter: z.strictObject({ name: z.string().min(1), region: awsRegion }).optional(),
    /** A kubeconfig kept in Secrets Manager. */
    kubeconfigSecret: z.strictObject({ id: z.string().min(1), region: awsRegion }).optional(),
    context: z.string().min(1).optional(),
    /**
     * Let a stored kubeconfig (kubeconfigData, kubeconfigParameter, kubeconfigSecret) use `exec` and
     * `auth-provider` plugins: they run commands in the function, as whoever can write the kubeconfig.
     */
    allowAuthPlugins: z.boolean({ error: "expected true or false" }).optional(),
  })
  .superRefine((cluster, ctx) => {
    const given = CLUSTER_ACCESS.filter((key) => cluster[key] !== undefined);
    if (given.length > 1) {
      ctx.addIssue({ code: "custom", message: `expected at most one of ${CLUSTER_ACCESS.join(", ")}; got ${given.join(" and ")}` });
    }
    if (cluster.allowAuthPlugins && STORED_KUBECONFIG.every((key) => cluster[key] === undefined)) {
      ctx.addIssue({ code: "custom", path: ["allowAuthPlugins"], message: `is for a stored kubeconfig (${STORED_KUBECONFIG.join(", ")}): a kubeconfig file may always use plugins` });
    }
    if ((cluster.inCluster || cluster.eks) && cluster.context) {
      ctx.addIssue({ code: "custom", path: ["context"], input: cluster.context, message: "a context needs a kubeconfig, not inCluster or eks" });
    }
  });

export const portSchema = z.strictObject({
  name: dnsLabel.optional(),
  port,
  protocol: z.enum(["TCP", "UDP", "SCTP"], { error: "expected TCP, UDP or SCTP" }).default("TCP"),
  appProtocol: z.string().min(1).max(63).optional(),
});

export const staticEntrySchema = z
  .strictObject({
    /** An IPv4 or IPv6 literal. */
    address: z
      .string({ error: "expected an IP address" })
      .refine((value) => isIP(value) !== 0, { error: "expected an IPv4 or IPv6 address" })
      .optional(),
    /** With `address`: the endpoint's hostname (a DNS label). Alone: a DNS name resolved at every run. */
    hostname: dnsSubdomain.optional(),
    nodeName: dnsSubdomain.optional(),
    zone: z.string().regex(LABEL_VALUE, { error: "expected a label value" }).max(63).optional(),
  })
  .superRefine((entry, ctx) => {
    if (entry.address === undefined && entry.hostname === undefined) {
      ctx.addIssue({ code: "custom", message: "expected an address, a hostname, or both" });
    }
    if (entry.address !== undefined && entry.hostname !== undefined && !DNS_LABEL.test(entry.hostname)) {
      ctx.addIssue({
        code: "custom",
        path: ["hostname"],
        input: entry.hostname,
        message: "next to an address, hostname is the endpoint's hostname and must be a DNS label (no dots)",
      });
    }
  });

// A record name as DNS has it: any case, underscores (_etcd._tcp), a leading wildcard, an optional final dot.
const RECORD_NAME = /^(\*\.)?([A-Za-z0-9_]([-A-Za-z0-9_]*[A-Za-z0-9_])?\.)*[A-Za-z0-9_]([-A-Za-z0-9_]*[A-Za-z0-9_])?\.?$/;
const recordName = z
  .string({ error: "expected a DNS name" })
  .max(254, { error: "expected at most 253 characters" })
  .regex(RECORD_NAME, { error: "expected a DNS name (letters, digits, '-', '_' and '.')" });

/** What every AWS source shares: where its calls go and as whom. */
const awsAccess = {
  /** Assume this role for the source's calls: another account's instances or zones. */
  role: z
    .strictObject({
      arn: roleArn,
      externalId: z.string().regex(/^[\w+=,.@:\/-]{2,1224}$/, { error: "expected 2-1224 characters of letters, digits and +=,.@:/-_" }).optional(),
    })
    .optional(),
  /** Send the source's AWS calls (STS included) to this URL instead of AWS: for moto or LocalStack. */
  endpoint: z.url({ protocol: /^https?$/, error: "expected an http or https URL" }).optional(),
  /** One AWS request's limit; the SDK retries throttling, 5xx and timeouts before the source fails. */
  timeoutMs: timeoutMs.default(10_000),
};

/** A filter value or several (matched as any of them), as DescribeInstances takes them. */
const filterValues = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], { error: "expected a value or a list of values" });

const EVERY_INSTANCE = "without them every instance of the regions would be a backend";
const notEmpty = (record: object) => Object.keys(record).length > 0;

export const ec2SourceSchema = z
  .strictObject({
    regions: z.array(awsRegion).min(1, { error: "expected at least one region" }),
    /** Short for `filters: { "tag:KEY": VALUE }`. */
    tags: z.record(z.string().min(1).max(128), filterValues).refine(notEmpty, { error: `expected at least one tag, got {}: ${EVERY_INSTANCE}` }).optional(),
    /** DescribeInstances filters, by name. Default instance-state-name: running, stopping, shutting-down. */
    filters: z.record(z.string().min(1), filterValues).refine(notEmpty, { error: `expected at least one filter, got {}: ${EVERY_INSTANCE}` }).optional(),
    address: z.enum(["privateIPv4", "publicIPv4", "primaryIPv6", "allIPv6"], { error: "expected privateIPv4, publicIPv4, primaryIPv6 or allIPv6" }).default("privateIPv4"),
    /** Take the address from the network interface attached at this device index, not the primary one. */
    deviceIndex: z.int().min(0, { error: "expected 0 or more" }).max(31, { error: "expected at most 31" }).optional(),
    /** The backends' port, in place of the target's. */
    port: port.optional(),
    /** Read each instance's port from this tag. */
    portTag: z.string().min(1).max(128).optional(),
    ...awsAccess,
  })
  .superRefine((source, ctx) => {
    if (source.tags === undefined && source.filters === undefined) {
      ctx.addIssue({ code: "custom", message: `expected tags or filters: ${EVERY_INSTANCE}` });
    }
    if (source.port !== undefined && source.portTag !== undefined) {
      ctx.addIssue({ code: "custom", path: ["portTag"], input: source.portTag, message: "expected port or portTag, not both" });
    }
    for (const key of Object.keys(source.tags ?? {})) {
      if (source.filters?.[`tag:${key}`] !== undefined) {
        ctx.addIssue({ code: "custom", path: ["tags", key], message: `tag ${JSON.stringify(key)} is also given as filter "tag:${key}": keep one` });
      }
    }
  });

export const route53SourceSchema = z
  .strictObject({
    zoneId: z.string().regex(/^(\/hostedzone\/)?[A-Z0-9]{1,32}$/, { error: "expected a hosted zone id such as Z0123456789ABC" }).optional(),
    /** Looked up with ListHostedZonesByName; must name exactly one zone (a public and a private zone of one name: give zoneId). */
    zoneName: recordName.optional(),
    /** The record name whose A/AAAA sets (weighted, multivalue, failover and simple alike) are the backends. */
    name: recordName,
    types: z.array(z.enum(["A", "AAAA"], { error: "expected A or AAAA" })).min(1).default(["A", "AAAA"]),
    /** Count each set's Route 53 health check as one more signal: an unhealthy one is never published ready. */
    healthChecks: z.boolean().default(false),
    ...awsAccess,
  })
  .superRefine(exactlyOne(["zoneId", "zoneName"], "hosted zone"))
  .superRefine((source, ctx) => {
    const bare = (name: string) => name.toLowerCase().replace(/\.$/, "");
    const [name, zone] = [bare(source.name), source.zoneName && bare(source.zoneName)];
    if (zone && name !== zone && !name.endsWith(`.${zone}`)) {
      ctx.addIssue({ code: "custom", path: ["name"], input: source.name, message: `expected a name in zone ${source.zoneName}` });
    }
  });

/** An address as the resolver takes it: `10.0.0.2`, `fd00::53`, `10.0.0.2:5353` or `[fd00::53]:5353`. A name would need a resolver of its own. */
function isServerAddress(value: string): boolean {
  if (isIP(value) !== 0) return true;
  const match = /^(?:\[([^\]]+)\]|([^:\]]+)):(\d{1,5})$/.exec(value);
  if (!match) return false;
  const port = Number(match[3]);
  const [v6, v4] = [match[1], match[2]];
  return port >= 1 && port <= 65535 && (v6 !== undefined ? isIP(v6) === 6 : isIP(v4!) === 4);
}

export const dnsSourceSchema = z
  .strictObject({
    name: recordName,
    /** SRV gives each target's port (and stands alone); its targets are resolved for A and AAAA. */
    types: z
      .array(z.enum(["A", "AAAA", "SRV"], { error: "expected A, AAAA or SRV" }))
      .min(1)
      .default(["A", "AAAA"])
      .refine((types) => !types.includes("SRV") || types.length === 1, { error: "SRV stands alone: its targets are resolved for A and AAAA" }),
    /** A DNS server (`10.0.0.2`, `10.0.0.2:5353`, `[fd00::53]:53`) instead of the system's (/etc/resolv.conf). */
    server: z
      .string({ error: "expected an IP address" })
      .refine(isServerAddress, { error: "expected an IP address, not a name (10.0.0.2, with :port if not 53: 10.0.0.2:5353, [fd00::53]:5353)" })
      .optional(),
    /** One try's limit; a name is tried twice before the source fails. */
    timeoutMs: timeoutMs.default(2000),
  });

export const sourceSchema = z
  .strictObject({
    name: dnsLabel.optional(),
    static: z.array(staticEntrySchema).min(1, { error: "expected at least one entry" }).optional(),
    ec2: ec2SourceSchema.optional(),
    route53: route53SourceSchema.optional(),
    dns: dnsSourceSchema.optional(),
  })
  .superRefine(exactlyOne(["static", "ec2", "route53", "dns"], "source kind"));

/** A limit in milliseconds on every check; `connectTimeoutMs` bounds the TCP (and TLS) connection alone. */
const checkTiming = {
  /** Probe this port instead of the target's first port. */
  port: port.optional(),
  /** The whole attempt: connection, handshake, request and answer. */
  timeoutMs: timeoutMs.default(2000),
  /** Default: half of timeoutMs, so black-holed backends free their slot early (see README, Health checks). */
  connectTimeoutMs: timeoutMs.optional(),
};

function connectWithinTotal(check: { timeoutMs: number; connectTimeoutMs?: number | undefined }, ctx: z.RefinementCtx) {
  if (check.connectTimeoutMs !== undefined && check.connectTimeoutMs > check.timeoutMs) {
    ctx.addIssue({ code: "custom", path: ["connectTimeoutMs"], input: check.connectTimeoutMs, message: `expected at most timeoutMs (${check.timeoutMs})` });
  }
}

const filePath = z.string({ error: "expected a file path" }).min(1, { error: "expected a file path" });
// Never a rule that could fail on the text itself: the problem list shows the value, and a key is a secret.
const pemText = z.string({ error: "expected PEM text" }).min(1, { error: "expected PEM text" });

/** How a check verifies the backend, and proves itself to it (mTLS). Paths are relative to the config file. */
const tlsFields = {
  /** CA bundle that signs the backends' certificates; default: Node's bundled public roots. */
  caFile: filePath.optional(),
  caPem: pemText.optional(),
  /** Client certificate and key, for backends that ask for one (mTLS). */
  certFile: filePath.optional(),
  certPem: pemText.optional(),
  keyFile: filePath.optional(),
  keyPem: pemText.optional(),
  /** Sent as SNI and required in the certificate; default: the backend's address. */
  serverName: dnsSubdomain.optional(),
  /** Accept any certificate. Only ever on purpose. */
  insecureSkipVerify: z.boolean().default(false),
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

/** RE2 matches in linear time, so no body can make a pattern backtrack for ever (README, Health checks). */
function compilesAsRe2(source: string, ctx: z.RefinementCtx) {
  try {
    RE2JS.compile(source);
  } catch (error) {
    ctx.addIssue({ code: "custom", input: source, message: `expected a regular expression in RE2 syntax (${(error as Error).message})` });
  }
}

const bodyMatch = z
  .strictObject({
    /** Passes when the body holds this text. */
    contains: z.string().min(1).optional(),
    /** Passes when this regular expression (RE2 syntax: no backreferences or lookaround) matches the body. */
    matches: z.string().min(1).superRefine(compilesAsRe2).optional(),
    /** Read at most this much of the body; what lies beyond is never matched. */
    readLimitBytes: z.int().min(1).max(1_048_576, { error: "expected at most 1048576 (1 MiB)" }).default(65_536),
  })
  .superRefine(exactlyOne(["contains", "matches"], "body match"));

const httpFields = {
  ...checkTiming,
  method: z.enum(["GET", "HEAD", "POST", "PUT", "OPTIONS"], { error: "expected GET, HEAD, POST, PUT or OPTIONS" }).default("GET"),
  path: z.string().startsWith("/", { error: "expected a path starting with /" }).regex(/^[^\s]*$/, { error: "expected a path without spaces" }).default("/"),
  /** Sent with every probe; `Host` here replaces the default (serverName, else the address). */
  headers: z.record(headerName, headerValue).optional(),
  /** Default 200-399: a redirect still shows a live server, as HAProxy counts it. */
  expectedStatus: z.array(statusMatcher).min(1).default(["200-399"]),
  body: bodyMatch.optional(),
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
/** An etcd member over HTTPS: /readyz, or /health where the member has no /readyz. */
const etcdCheckSchema = tlsCheckSchema;
const grpcCheckSchema = z
  .strictObject({
    ...checkTiming,
    /** The service asked about in grpc.health.v1.Health/Check; "" is the server as a whole. */
    service: z.string().default(""),
    /** Set to speak TLS (`tls: {}` for the defaults); absent, the connection is plaintext. */
    tls: z.strictObject(tlsFields).superRefine(tlsConsistent).optional(),
  })
  .superRefine(connectWithinTotal);

const CHECK_KINDS = ["none", "tcp", "tls", "http", "https", "etcd", "grpc"] as const;

export const checkSchema = z
  .strictObject({
    none: z.strictObject({}).optional(),
    tcp: tcpCheckSchema.optional(),
    tls: tlsCheckSchema.optional(),
    http: httpCheckSchema.optional(),
    https: httpsCheckSchema.optional(),
    etcd: etcdCheckSchema.optional(),
    grpc: grpcCheckSchema.optional(),
  })
  .superRefine(exactlyOne([...CHECK_KINDS], "check"));

/** A count (`3`) or a share of the backends (`"25%"`). */
const countOrPercent = (minimum: number) =>
  z.union(
    [
      z.int().min(minimum, { error: `expected a count of at least ${minimum}, or a percentage such as "25%"` }),
      z.string().regex(/^(100|[1-9]\d?)%$/, { error: "expected a percentage from 1% to 100%, such as \"25%\"" }),
    ],
    { error: `expected a count of at least ${minimum}, or a percentage such as "25%"` },
  );

export const guardsSchema = z.strictObject({
  /** Fewer healthy backends than this (a count, or a share of those found) trips the guard. Default: no minimum. */
  minHealthy: countOrPercent(1).optional(),
  /** When minHealthy trips: keep the set published now, or publish every backend ready (Envoy's panic mode). */
  belowMinHealthy: z.enum(["keepPrevious", "publishAll"], { error: "expected keepPrevious or publishAll" }).default("keepPrevious"),
  /** At most this many ready endpoints stop being ready (removed or turned not ready) in one run. Default: no cap. */
  maxRemovalsPerRun: countOrPercent(1).optional(),
  /** Never go from some ready endpoints to none, unless every source answered that there are no backends. */
  neverEmpty: z.boolean().default(true),
});

const targetShape = z.strictObject({
  name: dnsLabel,
  cluster: dnsLabel,
  namespace: dnsLabel,
  service: dnsLabel,
  ports: z.array(portSchema).min(1, { error: "expected at least one port" }),
  sources: z.array(sourceSchema).min(1, { error: "expected at least one source" }),
  /** One check, or a list of them that must all pass. */
  check: z
    .union([checkSchema, z.array(checkSchema).min(1, { error: "expected at least one check" })], { error: "expected a check or a list of checks" })
    .default({ tcp: { timeoutMs: 2000 } }),
  /** Passing runs in a row before a not-ready backend turns ready (AWS target groups: 2). */
  rise: z.int({ error: "expected a whole number 1-10" }).min(1, { error: "expected 1-10" }).max(10, { error: "expected 1-10" }).default(2),
  /** Failing runs in a row before a ready backend turns not ready. */
  fall: z.int({ error: "expected a whole number 1-10" }).min(1, { error: "expected 1-10" }).max(10, { error: "expected 1-10" }).default(2),
  /** A failing probe is tried once more this much later, in the same run, before it counts (0: never). */
  recheckDelayMs: z.int().min(0).max(10_000).default(200),
  guards: guardsSchema.default({ belowMinHealthy: "keepPrevious", neverEmpty: true }),
  publish: z
    .strictObject({ endpointSlices: z.boolean().default(true), endpoints: z.boolean().default(true) })
    .default({ endpointSlices: true, endpoints: true }),
  /** What failing backends become: published not ready, or left out. */
  failing: z.enum(["notReady", "drop"], { error: "expected notReady or drop" }).default("notReady"),
  /** Create the Service, selector-less, when it is missing. */
  createService: z.boolean().default(false),
  /** Take over an existing Endpoints or hand-made EndpointSlice that lacks our managed-by label. */
  adopt: z.boolean().default(false),
});

export const targetSchema = targetShape.superRefine(probesWithinTrigger);

/** API Gateway ends a request after 29 s, so POST /sync (whose function has the same timeout) must probe in less. */
const TRIGGER_LIMIT_MS = 29_000;

/**
 * The longest one backend's probing can take: the checks run one after another, each within its timeoutMs;
 * a failure other than Timeout is probed again after recheckDelayMs, jittered up to 1.5 times, and that
 * second attempt can take as long again. Waits for a free probe slot are not counted: they depend on the fleet.
 */
function worstProbeMs(target: { check: CheckConfig | CheckConfig[]; recheckDelayMs: number }): { ms: number; rule: string } {
  const checks = Array.isArray(target.check) ? target.check : [target.check];
  const once = checks.reduce((sum, check) => sum + (Object.values(check).find((kind) => kind?.timeoutMs !== undefined)?.timeoutMs ?? 0), 0);
  if (target.recheckDelayMs === 0 || once === 0) return { ms: once, rule: `${once} ms of checks` };
  return { ms: 2 * once + 1.5 * target.recheckDelayMs, rule: `2 × ${once} ms of checks + 1.5 × ${target.recheckDelayMs} ms re-check delay` };
}

function probesWithinTrigger(target: z.output<typeof targetShape>, ctx: z.RefinementCtx) {
  const { ms, rule } = worstProbeMs(target);
  if (ms >= TRIGGER_LIMIT_MS) {
    ctx.addIssue({
      code: "custom",
      path: ["check"],
      message: `target ${target.name}: probing one backend can take ${ms / 1000} s (${rule}), and POST /sync must answer within ${TRIGGER_LIMIT_MS / 1000} s; lower the timeouts or recheckDelayMs`,
    });
  }
}

export const configSchema = z
  .strictObject({
    /** Told apart from other installations writing to the same cluster. */
    ownerId: z.string().regex(LABEL_VALUE, { error: "expected a label value" }).min(1).max(63).default("default"),
    /** sync deletes what we wrote for targets that left the config; upsert-only leaves it. */
    policy: z.enum(["sync", "upsert-only"], { error: "expected sync or upsert-only" }).default("sync"),
    /** Probes in flight at once, across all targets. Each holds a socket, and a Lambda process has 1,024 file descriptors. */
    checkConcurrency: z.int().min(1).max(10_000).default(900),
    /** How often the schedule runs: health state older than 3 intervals restarts its streaks. */
    syncIntervalSeconds: z.int().min(1).max(86_400).default(60),
    /** Re-check and write on change every `everySeconds` for `forSeconds` within one invocation. */
    fastDetection: z
      .strictObject({
        everySeconds: z.int().min(1).max(600).default(5),
        forSeconds: z.int().min(1).max(3600).default(50),
      })
      .superRefine(({ everySeconds, forSeconds }, ctx) => {
        // At or past forSeconds there is no second round: the schedule alone would check.
        if (everySeconds >= forSeconds) ctx.addIssue({ code: "custom", path: ["everySeconds"], input: everySeconds, message: `expected less than forSeconds (${forSeconds})` });
      })
      .optional(),
    /** When the checker counts as cut off from the network, so that no target is written from its silence. */
    selfCheck: z
      .strictObject({
        /** Probed backends, across at least two targets, that must all go unanswered at once. */
        minBackends: z.int().min(1).max(100_000).default(4),
        /** An address that always answers TCP (refusing counts): when it goes unanswered, the checker is cut off. */
        canary: z
          .strictObject({
            address: z.string({ error: "expected an IP address" }).refine((value) => isIP(value) !== 0, { error: "expected an IPv4 or IPv6 address" }),
            port,
            timeoutMs: timeoutMs.default(2000),
          })
          .optional(),
      })
      .default({ minBackends: 4 }),
    /** Under policy sync, pruning may delete every object this installation has in a cluster: only when set. */
    allowPruneAll: z.boolean().default(false),
    clusters: z.array(clusterSchema).min(1, { error: "expected at least one cluster" }),
    targets: z.array(targetSchema),
  })
  // Runs even when other parts are invalid, so one report lists every problem.
  // Not for input that is no object at all (an empty file parses to null): that has its one problem already.
  .superRefine((config, ctx) => checkReferences(config, ctx), {
    when: (payload) => typeof payload.value === "object" && payload.value !== null && !Array.isArray(payload.value),
  });

type Loose = Record<string, unknown>;
const records = (value: unknown): Loose[] =>
  Array.isArray(value) ? value.filter((item): item is Loose => typeof item === "object" && item !== null) : [];

/** Cross-references: unique names, known clusters, one target per Service, named ports. */
function checkReferences(config: Loose, ctx: z.RefinementCtx) {
  // An invocation still re-checking when the next one starts would race it for the same objects.
  const fast = config.fastDetection as Loose | undefined;
  const interval = typeof config.syncIntervalSeconds === "number" ? config.syncIntervalSeconds : 60;
  if (typeof fast?.forSeconds === "number" && fast.forSeconds >= interval) {
    ctx.addIssue({ code: "custom", path: ["fastDetection", "forSeconds"], input: fast.forSeconds, message: `expected less than syncIntervalSeconds (${interval})` });
  }
  const clusterNames = new Set<unknown>();
  records(config.clusters).forEach((cluster, index) => {
    if (clusterNames.has(cluster.name)) ctx.addIssue({ code: "custom", path: ["clusters", index, "name"], input: cluster.name, message: "duplicate cluster name" });
    clusterNames.add(cluster.name);
  });
  const targetNames = new Set<unknown>();
  const services = new Map<string, unknown>();
  records(config.targets).forEach((target, index) => {
    const at = (...path: (string | number)[]) => ["targets", index, ...path];
    if (targetNames.has(target.name)) ctx.addIssue({ code: "custom", path: at("name"), input: target.name, message: "duplicate target name" });
    targetNames.add(target.name);
    if (typeof target.cluster === "string" && !clusterNames.has(target.cluster)) {
      const known = [...clusterNames].filter((name) => typeof name === "string").join(", ") || "none";
      ctx.addIssue({ code: "custom", path: at("cluster"), input: target.cluster, message: `no cluster by this name (have: ${known})` });
    }
    const service = `${String(target.cluster)}/${String(target.namespace)}/${String(target.service)}`;
    if (services.has(service)) ctx.addIssue({ code: "custom", path: at("service"), input: target.service, message: `already synced by target ${String(services.get(service))}` });
    services.set(service, target.name);
    const ports = records(target.ports);
    const portNames = new Set<unknown>();
    ports.forEach((entry, portIndex) => {
      if (ports.length > 1 && entry.name === undefined) {
        ctx.addIssue({ code: "custom", path: at("ports", portIndex, "name"), message: "required when a target has more than one port" });
      }
      if (entry.name !== undefined && portNames.has(entry.name)) {
        ctx.addIssue({ code: "custom", path: at("ports", portIndex, "name"), input: entry.name, message: "duplicate port name" });
      }
      portNames.add(entry.name);
    });
    // A backend's own port replaces the target's port; with several ports there is no saying which.
    records(target.sources).forEach((source, sourceIndex) => {
      const ec2 = typeof source.ec2 === "object" && source.ec2 !== null ? (source.ec2 as Loose) : {};
      const dns = typeof source.dns === "object" && source.dns !== null ? (source.dns as Loose) : {};
      const own = ec2.port !== undefined ? ["ec2", "port"] : ec2.portTag !== undefined ? ["ec2", "portTag"] : Array.isArray(dns.types) && dns.types.includes("SRV") ? ["dns", "types"] : undefined;
      if (own && ports.length !== 1) {
        ctx.addIssue({
          code: "custom",
          path: at("sources", sourceIndex, ...own),
          message: `a port of each backend's own needs a target with exactly one port, and this one has ${ports.length}`,
        });
      }
    });
  });
}

export type Config = z.output<typeof configSchema>;
export type ClusterConfig = z.output<typeof clusterSchema>;
export type TargetConfig = z.output<typeof targetSchema>;
export type SourceConfig = z.output<typeof sourceSchema>;
export type StaticEntry = z.output<typeof staticEntrySchema>;
export type Ec2SourceConfig = z.output<typeof ec2SourceSchema>;
export type Route53SourceConfig = z.output<typeof route53SourceSchema>;
export type DnsSourceConfig = z.output<typeof dnsSourceSchema>;
export type CheckConfig = z.output<typeof checkSchema>;
export type GuardsConfig = z.output<typeof guardsSchema>;
export type PortConfig = z.output<typeof portSchema>;
