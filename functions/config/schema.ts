import { isIP } from "node:net";
import { z } from "zod";

// Kubernetes name rules, so a bad name fails here and not as a 422 halfway through a run.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

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
  })
  .superRefine((cluster, ctx) => {
    const given = CLUSTER_ACCESS.filter((key) => cluster[key] !== undefined);
    if (given.length > 1) {
      ctx.addIssue({ code: "custom", message: `expected at most one of ${CLUSTER_ACCESS.join(", ")}; got ${given.join(" and ")}` });
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

export const sourceSchema = z
  .strictObject({
    name: dnsLabel.optional(),
    static: z.array(staticEntrySchema).min(1, { error: "expected at least one entry" }).optional(),
  })
  .superRefine(exactlyOne(["static"], "source kind"));

const tcpCheckSchema = z.strictObject({
  /** Probe this port instead of the target's first port. */
  port: port.optional(),
  timeoutMs: timeoutMs.default(2000),
});

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

const httpCheckSchema = tcpCheckSchema.extend({
  path: z.string().startsWith("/", { error: "expected a path starting with /" }).default("/"),
  /** Default 200-399: a redirect still shows a live server, as HAProxy counts it. */
  expectedStatus: z.array(statusMatcher).min(1).default(["200-399"]),
});

const httpsCheckSchema = httpCheckSchema.extend({
  insecureSkipVerify: z.boolean().default(false),
  serverName: dnsSubdomain.optional(),
});

export const checkSchema = z
  .strictObject({
    none: z.strictObject({}).optional(),
    tcp: tcpCheckSchema.optional(),
    http: httpCheckSchema.optional(),
    https: httpsCheckSchema.optional(),
  })
  .superRefine(exactlyOne(["none", "tcp", "http", "https"], "check"));

export const targetSchema = z.strictObject({
  name: dnsLabel,
  cluster: dnsLabel,
  namespace: dnsLabel,
  service: dnsLabel,
  ports: z.array(portSchema).min(1, { error: "expected at least one port" }),
  sources: z.array(sourceSchema).min(1, { error: "expected at least one source" }),
  check: checkSchema.default({ tcp: { timeoutMs: 2000 } }),
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

export const configSchema = z
  .strictObject({
    /** Told apart from other installations writing to the same cluster. */
    ownerId: z.string().regex(LABEL_VALUE, { error: "expected a label value" }).min(1).max(63).default("default"),
    /** sync deletes what we wrote for targets that left the config; upsert-only leaves it. */
    policy: z.enum(["sync", "upsert-only"], { error: "expected sync or upsert-only" }).default("sync"),
    checkConcurrency: z.int().min(1).max(10_000).default(256),
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
  });
}

export type Config = z.output<typeof configSchema>;
export type ClusterConfig = z.output<typeof clusterSchema>;
export type TargetConfig = z.output<typeof targetSchema>;
export type SourceConfig = z.output<typeof sourceSchema>;
export type StaticEntry = z.output<typeof staticEntrySchema>;
export type CheckConfig = z.output<typeof checkSchema>;
export type PortConfig = z.output<typeof portSchema>;
