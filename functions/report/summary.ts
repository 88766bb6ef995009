import type { RunReport, TargetReport } from "./report.ts";

/** One target in a line: what the functions log, return and count. */
export function summarizeTarget(target: TargetReport) {
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
    ...(target.error ? { error: target.error } : {}),
  };
}

/** The run as the functions return it. */
export function summarize(report: RunReport) {
  return {
    ok: report.ok,
    dryRun: report.dryRun,
    durationMs: report.durationMs,
    ...(report.cutShort && { cutShort: true }),
    targets: report.targets.map(summarizeTarget),
    pruned: report.pruned.flatMap((prune) => [
      ...prune.changes.map((change) => ({ cluster: prune.cluster, deleted: `${change.kind} ${change.namespace}/${change.name}` })),
      ...(prune.guard ? [{ cluster: prune.cluster, guard: prune.guard }] : []),
      ...(prune.error ? [{ cluster: prune.cluster, error: prune.error }] : []),
    ]),
  };
}
