// The pieces every part of the schema shares: Kubernetes names, ports, timeouts, addresses, AWS names.
import { isIP } from "node:net";
import * as z from "zod";

// Kubernetes name rules, so a bad name fails here and not as a 422 halfway through a run.
export const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export const dnsLabel = z
  .string({ error: "expected a string" })
  .max(63, { error: "expected at most 63 characters" })
  .regex(DNS_LABEL, { error: "expected a DNS label (lower-case letters, digits and '-')" });

export const dnsSubdomain = z
  .string({ error: "expected a string" })
  .max(253, { error: "expected at most 253 characters" })
  .regex(DNS_SUBDOMAIN, { error: "expected a DNS name (lower-case letters, digits, '-' and '.')" });

export const port = z.int({ error: "expected an integer 1-65535" }).min(1, { error: "expected 1-65535" }).max(65535, { error: "expected 1-65535" });
export const timeoutMs = z.int({ error: "expected milliseconds as an integer" }).min(1, { error: "expected at least 1 ms" }).max(60_000, { error: "expected at most 60000 ms" });

/** Exactly one of `keys` is set: how the config names a variant (`check: { tcp: {} }`). */
export function exactlyOne<T extends Record<string, unknown>>(keys: (keyof T & string)[], what: string) {
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

export const awsRegion = z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, { error: "expected an AWS region such as eu-west-1" });
export const roleArn = z.string().regex(/^arn:aws[\w-]*:iam::\d{12}:role\/[\w+=,.@\/-]+$/, { error: "expected an IAM role ARN" });

export const ipAddress = z.string({ error: "expected an IP address" }).refine((value) => isIP(value) !== 0, { error: "expected an IPv4 or IPv6 address" });

export const filePath = z.string({ error: "expected a file path" }).min(1, { error: "expected a file path" });
