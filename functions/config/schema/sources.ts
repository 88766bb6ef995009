// `targets[].sources[]`: one schema per source kind, and the source entry that names exactly one of them.
import { isIP } from "node:net";
import * as z from "zod";
import { awsRegion, DNS_LABEL, dnsLabel, dnsSubdomain, exactlyOne, filePath, ipAddress, LABEL_VALUE, port, roleArn, timeoutMs } from "./common.ts";

const staticEntrySchema = z
  .strictObject({
    address: ipAddress.optional().describe("An IPv4 or IPv6 literal."),
    hostname: dnsSubdomain.optional().describe("With `address`: the endpoint's hostname (a DNS label). Alone: a DNS name resolved at every run."),
    nodeName: dnsSubdomain.optional().describe("Written as the endpoint's nodeName."),
    zone: z.string().regex(LABEL_VALUE, { error: "expected a label value" }).max(63).optional().describe("Written as the endpoint's zone, for topology-aware routing."),
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
  role: z
    .strictObject({
      arn: roleArn.describe("The role's ARN."),
      externalId: z
        .string()
        .regex(/^[\w+=,.@:\/-]{2,1224}$/, { error: "expected 2-1224 characters of letters, digits and +=,.@:/-_" })
        .optional()
        .describe("The external id the role's trust policy asks for."),
    })
    .optional()
    .describe("Assume this role for the source's calls: another account's instances or zones."),
  endpoint: z.url({ protocol: /^https?$/, error: "expected an http or https URL" }).optional().describe("Send the source's AWS calls (STS included) to this URL instead of AWS: for moto or LocalStack."),
  timeoutMs: timeoutMs.default(10_000).describe("One AWS request's limit; the SDK retries throttling, 5xx and timeouts before the source fails."),
};

/** A filter value or several (matched as any of them), as DescribeInstances takes them. */
const filterValues = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], { error: "expected a value or a list of values" });

const EVERY_INSTANCE = "without them every instance of the regions would be a backend";
const notEmpty = (record: object) => Object.keys(record).length > 0;

const ec2SourceSchema = z
  .strictObject({
    regions: z.array(awsRegion).min(1, { error: "expected at least one region" }).describe("The regions whose instances are listed."),
    tags: z.record(z.string().min(1).max(128), filterValues).refine(notEmpty, { error: `expected at least one tag, got {}: ${EVERY_INSTANCE}` }).optional().describe("Short for `filters: { \"tag:KEY\": VALUE }`."),
    filters: z.record(z.string().min(1), filterValues).refine(notEmpty, { error: `expected at least one filter, got {}: ${EVERY_INSTANCE}` }).optional().describe("DescribeInstances filters, by name. Default instance-state-name: running, stopping, shutting-down."),
    address: z.enum(["privateIPv4", "publicIPv4", "primaryIPv6", "allIPv6"], { error: "expected privateIPv4, publicIPv4, primaryIPv6 or allIPv6" })
      .default("privateIPv4")
      .describe("Which of each instance's addresses is the backend's."),
    deviceIndex: z.int().min(0, { error: "expected 0 or more" }).max(31, { error: "expected at most 31" }).optional().describe("Take the address from the network interface attached at this device index, not the primary one."),
    port: port.optional().describe("The backends' port, in place of the target's."),
    portTag: z.string().min(1).max(128).optional().describe("Read each instance's port from this tag."),
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

const route53SourceSchema = z
  .strictObject({
    zoneId: z.string().regex(/^(\/hostedzone\/)?[A-Z0-9]{1,32}$/, { error: "expected a hosted zone id such as Z0123456789ABC" })
      .optional()
      .describe("The hosted zone's id; give zoneId or zoneName."),
    zoneName: recordName.optional().describe("Looked up with ListHostedZonesByName; must name exactly one zone (a public and a private zone of one name: give zoneId)."),
    name: recordName.describe("The record name whose A/AAAA sets (weighted, multivalue, failover and simple alike) are the backends."),
    types: z.array(z.enum(["A", "AAAA"], { error: "expected A or AAAA" })).min(1).default(["A", "AAAA"]).describe("The record types read."),
    healthChecks: z.boolean().default(false).describe("Count each set's Route 53 health check as one more signal: an unhealthy one is never published ready."),
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

const dnsSourceSchema = z
  .strictObject({
    name: recordName.describe("The name resolved at every run."),
    types: z
      .array(z.enum(["A", "AAAA", "SRV"], { error: "expected A, AAAA or SRV" }))
      .min(1)
      .default(["A", "AAAA"])
      .refine((types) => !types.includes("SRV") || types.length === 1, { error: "SRV stands alone: its targets are resolved for A and AAAA" })
      .describe("SRV gives each target's port (and stands alone); its targets are resolved for A and AAAA."),
    server: z
      .string({ error: "expected an IP address" })
      .refine(isServerAddress, { error: "expected an IP address, not a name (10.0.0.2, with :port if not 53: 10.0.0.2:5353, [fd00::53]:5353)" })
      .optional()
      .describe("A DNS server (`10.0.0.2`, `10.0.0.2:5353`, `[fd00::53]:53`) instead of the system's (/etc/resolv.conf)."),
    timeoutMs: timeoutMs.default(2000).describe("One try's limit; a name is tried twice before the source fails."),
  });

const fileSourceSchema = z.strictObject({ path: filePath.describe("The file's path, relative to the config file.") });

export const sourceSchema = z
  .strictObject({
    name: dnsLabel.optional().describe("The source's name in logs and metrics; default: its kind and index."),
    static: z.array(staticEntrySchema).min(1, { error: "expected at least one entry" }).optional().describe("Backends written in the config."),
    ec2: ec2SourceSchema.optional().describe("EC2 instances found by tags or filters."),
    route53: route53SourceSchema.optional().describe("The A/AAAA record sets of one name in a Route 53 hosted zone."),
    dns: dnsSourceSchema.optional().describe("The addresses a DNS name resolves to, or its SRV targets."),
    file: fileSourceSchema.optional().describe("A file of addresses, one a line (docs/configuration.md, Sources); relative to the config file, read at every run."),
  })
  .superRefine(exactlyOne(["static", "ec2", "route53", "dns", "file"], "source kind"));

export type SourceConfig = z.output<typeof sourceSchema>;
export type StaticEntry = z.output<typeof staticEntrySchema>;
export type Ec2SourceConfig = z.output<typeof ec2SourceSchema>;
export type Route53SourceConfig = z.output<typeof route53SourceSchema>;
export type DnsSourceConfig = z.output<typeof dnsSourceSchema>;
export type FileSourceConfig = z.output<typeof fileSourceSchema>;
