import type { RunReport, TargetReport } from "./report.ts";

/**
 * The most JSON a summary may take. Lambda refuses a response over 6 MB (API Gateway then answers 502, and a
 * scheduled invocation counts as failed): a run with more to say lists what matters most and counts the rest.
 */
export const SUMMARY_MAX_BYTES = 1_048_576;

/** One target in a line: what the functions log, return and count. */
export function summarizeTarget(target: TargetReport) {
  const failedSources = target.sources.filter((source) => source.status === "failed").map((source) => source.name);
  return {
    target: target.target,
    cluster: target.cluster,
    // Not `service`: the log line's own key names the service that logs (external-endpoint-syncer).
    kubernetesService: `${target.namespace}/${target.service}`,
    status: target.status,
    ready: target.endpoints.ready,
    notReady: target.endpoints.notReady,
    changes: target.changes.length,
    writes: target.writes,
    ...(target.guards.length > 0 ? { guards: target.guards.map((trip) => trip.guard) } : {}),
    ...(failedSources.length > 0 ? { failedSources } : {}),
    ...(target.error ? { error: target.error } : {}),
  };
}

type TargetLine = ReturnType<typeof summarizeTarget>;
type PruneLine = { cluster: string; deleted: string } | { cluster: string; guard: string } | { cluster: string; error: string };

export interface RunSummary {
  ok: boolean;
  degraded: boolean;
  dryRun: boolean;
  durationMs: number;
  cutShort?: true;
  targets: TargetLine[];
  pruned: PruneLine[];
  /** Only in a summary cut to fit: how many lines it leaves out, and the statuses of the targets among them. */
  omitted?: { targets: number; pruned: number; statuses: Partial<Record<TargetLine["status"], number>> };
}

/**
 * The run as the functions return it, in at most `maxBytes` of JSON. Past that, whole lines are kept in this
 * order: failed or degraded targets, prune errors and guards, changed targets, deletions, the rest; `omitted` counts what
 * was left out (targets by status).
 */
export function summarize(report: RunReport, maxBytes = SUMMARY_MAX_BYTES): RunSummary {
  const targets = report.targets.map(summarizeTarget);
  const pruned: PruneLine[] = report.pruned.flatMap((prune) => [
    ...prune.changes.map((change) => ({ cluster: prune.cluster, deleted: `${change.kind} ${change.namespace}/${change.name}` })),
    ...(prune.guard ? [{ cluster: prune.cluster, guard: prune.guard }] : []),
    ...(prune.error ? [{ cluster: prune.cluster, error: prune.error }] : []),
  ]);
  const whole: RunSummary = { ok: report.ok, degraded: report.degraded, dryRun: report.dryRun, durationMs: report.durationMs, ...(report.cutShort && { cutShort: true }), targets, pruned };
  return jsonBytes(whole) <= maxBytes ? whole : bounded(whole, maxBytes);
}

function bounded(whole: RunSummary, maxBytes: number): RunSummary {
  // Room for the worst `omitted`: every line left out.
  const frame = { ...whole, targets: [], pruned: [], omitted: { targets: whole.targets.length, pruned: whole.pruned.length, statuses: statuses(whole.targets) } };
  const candidates = [
    ...whole.targets.map((line, index) => ({ list: "targets" as const, index, line, rank: line.status === "failed" || line.status === "degraded" ? 0 : line.changes > 0 ? 2 : 4 })),
    ...whole.pruned.map((line, index) => ({ list: "pruned" as const, index, line, rank: "deleted" in line ? 3 : 1 })),
  ].sort((a, b) => a.rank - b.rank);

  let room = maxBytes - jsonBytes(frame);
  const kept = { targets: new Set<number>(), pruned: new Set<number>() };
  for (const candidate of candidates) {
    const size = jsonBytes(candidate.line) + 1; // and its comma
    if (size > room) continue;
    room -= size;
    kept[candidate.list].add(candidate.index);
  }
  const targets = whole.targets.filter((_, index) => kept.targets.has(index));
  const left = whole.targets.filter((_, index) => !kept.targets.has(index));
  return {
    ...whole,
    targets,
    pruned: whole.pruned.filter((_, index) => kept.pruned.has(index)),
    omitted: { targets: left.length, pruned: whole.pruned.length - kept.pruned.size, statuses: statuses(left) },
  };
}

function statuses(lines: TargetLine[]): Partial<Record<TargetLine["status"], number>> {
  const counts: Partial<Record<TargetLine["status"], number>> = {};
  for (const line of lines) counts[line.status] = (counts[line.status] ?? 0) + 1;
  return counts;
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}
