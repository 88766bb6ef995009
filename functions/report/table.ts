import type { EndpointChange } from "../plan/changes.ts";
import type { BackendReport, ChangeReport, RunReport, TargetReport } from "./report.ts";

const MARK: Record<EndpointChange["change"], string> = { added: "+", removed: "-", ready: "~ ready", notReady: "~ not ready", updated: "~" };
/**
 * How many addresses of one change, and lines of one kind per target (failing backends, kept, dropped, left out),
 * the table shows before it sums up the rest: a first sync of thousands would otherwise print them all. The JSON
 * report always has every one.
 */
export const LISTED = 10;

/** The CLI's human output: one row per target, then what each did or would do, endpoint by endpoint (long lists summed up). */
export function formatTable(report: RunReport): string {
  const header = ["TARGET", "CLUSTER", "SERVICE", "STATUS", "READY", "NOT READY", "CHANGES", "WRITES", "TIME"];
  const rows = report.targets.map((target) => [
    target.target,
    target.cluster,
    `${target.namespace}/${target.service}`,
    target.status,
    String(target.endpoints.ready),
    String(target.endpoints.notReady),
    String(target.changes.length),
    String(target.writes),
    `${target.durationMs} ms`,
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd();
  const out = [line(header), ...rows.map(line)];
  for (const target of report.targets) out.push(...details(target, report.dryRun));
  for (const prune of report.pruned) {
    if (prune.error) out.push(`prune ${prune.cluster}: failed: ${prune.error}`);
    if (prune.guard) out.push(`prune ${prune.cluster}: guard: ${prune.guard}`);
    for (const warning of prune.warnings ?? []) out.push(`prune ${prune.cluster}: warning: ${warning}`);
    for (const change of prune.changes) out.push(`prune ${prune.cluster}: ${report.dryRun ? "would " : ""}${formatChange(change)}`);
  }
  const degraded = report.targets.filter((target) => target.status === "degraded").length;
  if (degraded > 0) out.push(`degraded: ${degraded} target${degraded === 1 ? "" : "s"} ran with a failed source or a guard holding changes back; what they publish may be stale`);
  if (report.cutShort) out.push("cut short: the run's deadline stopped the probing; what had no verdict kept what it had");
  if (report.dryRun) out.push("dry run: nothing was written");
  return out.join("\n");
}

function details(target: TargetReport, dryRun: boolean): string[] {
  const lines: string[] = [];
  const add = (text: string) => lines.push(`${target.target}: ${text}`);
  if (target.error) add(`error: ${target.error}`);
  for (const source of target.sources) if (source.status === "failed") add(`source ${source.name} failed: ${source.error}`);
  listed(target.rejected, (rejected) => `left out ${rejected.address} (${rejected.sources.join(", ")}): ${rejected.reason}`, () => "left out").forEach(add);
  const notPassing = target.backends.filter((backend) => backend.status !== "pass" || pendingFlip(backend));
  listed(
    notPassing,
    (backend) => `${backend.address} ${backend.status}: ${backend.reason}${backend.detail ? ` (${backend.detail})` : ""}${pendingFlip(backend)}`,
    (rest) => `backends failing or pending: ${tally(rest.map((backend) => backend.reason))}`,
  ).forEach(add);
  listed(target.kept, (kept) => `kept ${kept.address}: ${kept.reason}`, () => "kept").forEach(add);
  listed(target.dropped, (address) => `dropped failing ${address}`, () => "dropped").forEach(add);
  for (const trip of target.guards) add(`guard ${trip.guard}: ${trip.detail}`);
  for (const warning of target.warnings) add(`warning: ${warning}`);
  for (const foreign of target.foreign) add(`left alone ${foreign.kind} ${foreign.name}, managed by ${foreign.managedBy}`);
  for (const change of target.changes) add(`${dryRun ? "would " : ""}${formatChange(change)}`);
  return lines;
}

/** A verdict that rise/fall has not acted on yet: "still ready after 1 failing run". */
function pendingFlip(backend: BackendReport): string {
  const health = backend.health;
  if (!health || health.streak === 0) return "";
  const runs = `${health.streak} ${health.healthy ? "failing" : "passing"} run${health.streak === 1 ? "" : "s"}`;
  return `, still ${health.healthy ? "ready" : "not ready"} after ${runs}`;
}

/** A change and its addresses; past LISTED of them, the count of each kind of change in it. */
function formatChange(change: ChangeReport): string {
  const shown = change.endpoints.slice(0, LISTED).map((endpoint) => `${MARK[endpoint.change]} ${endpoint.address}`);
  const rest = change.endpoints.length - shown.length;
  if (rest > 0) shown.push(`and ${count(rest)} more (${count(change.endpoints.length)} in all: ${tally(change.endpoints.map((endpoint) => MARK[endpoint.change]))})`);
  return `${change.action} ${change.kind} ${change.namespace}/${change.name}${shown.length > 0 ? `: ${shown.join(", ")}` : ""}`;
}

/** The first LISTED items as lines, and one line saying how many more there are, and what they are. */
function listed<T>(items: T[], line: (item: T) => string, what: (rest: T[]) => string): string[] {
  const lines = items.slice(0, LISTED).map(line);
  const rest = items.slice(LISTED);
  if (rest.length > 0) lines.push(`and ${count(rest.length)} more ${what(rest)} (all in the JSON report)`);
  return lines;
}

/** "+ 3,400, - 100": how many of each label, most first. */
function tally(labels: string[]): string {
  const counts = new Map<string, number>();
  for (const label of labels) counts.set(label, (counts.get(label) ?? 0) + 1);
  return [...counts].sort(([, a], [, b]) => b - a).map(([label, n]) => `${label} ${count(n)}`).join(", ");
}

function count(n: number): string {
  return n.toLocaleString("en");
}
