import type { z } from "zod";

/**
 * Fields whose values are secrets, or may be: keys (and, to be safe, certificates and CAs), header values
 * (Authorization, API keys), an inline kubeconfig. A problem there names the path and never the value, and a
 * header name that fails is not shown either: a `"Authorization: Bearer ..."` key is a value written in the wrong place.
 */
const SECRET_FIELDS = new Set(["caPem", "certPem", "keyPem", "headers", "kubeconfigData"]);
const HIDDEN = "(not shown: it may be a secret)";

/** Each problem as `targets[2].ports[0].port: expected 1-65535, got 70000`. */
export function describeIssues(error: z.ZodError, input: unknown): string[] {
  return error.issues.flatMap((issue) => describeIssue(issue, input));
}

function describeIssue(issue: z.core.$ZodIssue, input: unknown): string[] {
  if (issue.code === "invalid_union") {
    // When the value has the type of just one branch (an object where a check or a list of checks may
    // stand), that branch's problems say what is wrong; "matches no branch" would not.
    const typed = issue.errors.filter((branch) => !branch.every((inner) => inner.code === "invalid_type" && inner.path.length === 0));
    if (typed.length === 1) return typed[0]!.flatMap((inner) => describeIssue({ ...inner, path: [...issue.path, ...inner.path] }, input));
  }
  return [describeOne(issue, input)];
}

function describeOne(issue: z.core.$ZodIssue, input: unknown): string {
  const secretAt = issue.path.findIndex((key) => typeof key === "string" && SECRET_FIELDS.has(key));
  if (issue.code === "invalid_key" && secretAt >= 0) {
    return `${formatPath(issue.path.slice(0, -1))}: a key ${HIDDEN}: ${issue.issues[0]?.message ?? issue.message}`;
  }
  const path = formatPath(issue.path) || "(top level)";
  if (issue.code === "unrecognized_keys") {
    return `${path}: unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.map((key) => JSON.stringify(key)).join(", ")}`;
  }
  if (secretAt >= 0) return `${path}: ${issue.message}`;
  const value = valueAt(input, issue.path);
  // Our own cross-field messages about a whole object already say what was there.
  const showValue = issue.code !== "custom" || (value !== undefined && (typeof value !== "object" || value === null));
  return `${path}: ${issue.message}${showValue ? `, got ${formatValue(value)}` : ""}`;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.map((key, index) => (typeof key === "number" ? `[${key}]` : `${index === 0 ? "" : "."}${String(key)}`)).join("");
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (typeof value !== "object" || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

function formatValue(value: unknown): string {
  if (value === undefined) return "nothing";
  // A whole object shown (a check of the wrong shape) keeps its secret fields to itself.
  // A PEM block anywhere else (`tls: <the key>`) is a key or certificate written in the wrong place.
  const text = JSON.stringify(value, (key, inner: unknown) => (SECRET_FIELDS.has(key) || (typeof inner === "string" && inner.includes("-----BEGIN")) ? HIDDEN : inner));
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}
