import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import type { RunReport } from "./report/report.ts";
import { summarizeTarget } from "./report/summary.ts";
import { VERSION } from "./version.ts";

const SERVICE = "external-endpoint-syncer";

/** Every log line's service and release, the functions' and the CLI's alike. */
export const LOG_KEYS = { serviceName: SERVICE, persistentKeys: { version: VERSION } };
/** JSON lines, each with the release and, once `startInvocation` ran, the invocation id. Made once per cold start. */
export const logger = new Logger(LOG_KEYS);
/** The deployment's stage (serverless.yml sets it), a dimension of every metric: dev and prod in one account stay apart. */
const stage = process.env.EES_STAGE;
/** CloudWatch embedded metric format, one set per target. */
export const metrics = new Metrics({ namespace: "ExternalEndpointSyncer", serviceName: SERVICE, ...(stage && { defaultDimensions: { stage } }) });

export function startInvocation(context: Context): void {
  logger.addContext(context);
  // ColdStart 1 on a new execution environment's first invocation only: their count is the cold starts.
  metrics.captureColdStartMetric(context.functionName);
}

/** One log line and one metric set per target, then the run's own line. Reports hold no secrets. */
export function publishRun(report: RunReport): void {
  for (const target of report.targets) {
    metrics.addDimensions({ target: target.target, cluster: target.cluster });
    metrics.addMetric("ReadyEndpoints", MetricUnit.Count, target.endpoints.ready);
    metrics.addMetric("NotReadyEndpoints", MetricUnit.Count, target.endpoints.notReady);
    metrics.addMetric("Writes", MetricUnit.Count, target.writes);
    metrics.addMetric("GuardTrips", MetricUnit.Count, target.guards.length);
    metrics.addMetric("SyncFailed", MetricUnit.Count, target.status === "failed" ? 1 : 0);
    metrics.addMetric("SyncDuration", MetricUnit.Milliseconds, target.durationMs);
    metrics.publishStoredMetrics();

    // 0 or 1 for every source, so an alarm on it sees the good runs too.
    for (const source of target.sources) {
      metrics.addDimensions({ target: target.target, cluster: target.cluster, source: source.name });
      metrics.addMetric("SourceFailed", MetricUnit.Count, source.status === "failed" ? 1 : 0);
      metrics.publishStoredMetrics();
    }

    const failures = new Map<string, number>();
    for (const backend of target.backends) if (backend.status !== "pass") failures.set(backend.reason, (failures.get(backend.reason) ?? 0) + 1);
    for (const [reason, count] of failures) {
      metrics.addDimensions({ target: target.target, cluster: target.cluster, reason });
      metrics.addMetric("ProbeFailures", MetricUnit.Count, count);
      metrics.publishStoredMetrics();
    }
  }
  logRun(report);
}

/** publishRun's log lines without its metrics: what the CLI logs. */
export function logRun(report: RunReport, log: Logger = logger): void {
  for (const target of report.targets) {
    const fields = { ...summarizeTarget(target), durationMs: target.durationMs };
    if (target.status === "failed") log.error("target failed", fields);
    else if (target.status === "degraded") log.warn("target degraded", fields);
    else log.info("target synced", fields);
  }
  const pruneErrors = report.pruned.filter((prune) => prune.error).map((prune) => ({ cluster: prune.cluster, error: prune.error }));
  const pruned = report.pruned.flatMap((prune) => prune.changes.map((change) => `${prune.cluster}: ${change.kind} ${change.namespace}/${change.name}`));
  const fields = { ok: report.ok, degraded: report.degraded, dryRun: report.dryRun, durationMs: report.durationMs, pruned, pruneErrors };
  if (!report.ok) log.error("sync finished", fields);
  else if (report.degraded) log.warn("sync finished", fields);
  else log.info("sync finished", fields);
}
