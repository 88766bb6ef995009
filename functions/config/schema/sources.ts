// `targets[].sources[]`: one schema per source kind, and the source entry that names exactly one of them.
import { isIP } from "node:net";
import * as z from "zod";
import { awsRegion, DNS_LABEL, dnsLabel, dnsSubdomain, exactlyOne, filePath, ipAddress, LABEL_VALUE, port, roleArn, timeoutMs } from "./common.ts";

const staticEntrySchema = z
  .strictObject({
    /** An IPv4 or IPv6 literal. */
    address: ipAddress.optional(),
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

const ec2SourceSchema = z
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

const route53SourceSchema = z
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

const dnsSourceSchema = z
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

/** A file of addresses, one a line (docs/configuration.md, Sources); relative to the config file, read at every run. */
const fileSourceSchema = z.strictObject({ path: filePath });

export const sourceSchema = z
  .strictObject({
    name: dnsLabel.optional(),
    static: z.array(staticEntrySchema).min(1, { error: "expected at least one entry" }).optional(),
    ec2: ec2SourceSchema.optional(),
    route53: route53SourceSchema.optional(),
    dns: dnsSourceSchema.optional(),
    file: fileSourceSchema.optional(),
  })
  .superRefine(exactlyOne(["static", "ec2", "route53", "dns", "file"], "source kind"));

export type SourceConfig = z.output<typeof sourceSchema>;
export type StaticEntry = z.output<typeof staticEntrySchema>;
export type Ec2SourceConfig = z.output<typeof ec2SourceSchema>;
export type Route53SourceConfig = z.output<typeof route53SourceSchema>;
export type DnsSourceConfig = z.output<typeof dnsSourceSchema>;
export type FileSourceConfig = z.output<typeof fileSourceSchema>;
