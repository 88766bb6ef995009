import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import type { Config } from "./config/schema.ts";
import type { RunReport, TargetReport } from "./report/report.ts";
import { summarizeTarget } from "./report/summary.ts";
import { VERSION } from "./version.ts";

const SERVICE = "external-endpoint-syncer";

/** Every log line's service and release, the functions' and the CLI's alike. */
export const LOG_KEYS = { serviceName: SERVICE, persistentKeys: { version: VERSION } };
/** JSON lines, each with the release and, once `startInvocation` ran, the invocation id. Made once per cold start. */
export const logger = new Logger(LOG_KEYS);
/** The deployment's stage (serverless.yml sets it), a dimension of every metric: dev and prod in one account stay apart. */
const stage = process.env.EES_STAGE;
/** CloudWatch embedded metric format, sets per target or per cluster (publishRun). */
export const metrics = new Metrics({ namespace: "ExternalEndpointSyncer", serviceName: SERVICE, ...(stage && { defaultDimensions: { stage } }) });

export function startInvocation(context: Context): void {
  logger.addContext(context);
  // ColdStart 1 on a new execution environment's first invocation only: their count is the cold starts.
  metrics.captureColdStartMetric(context.functionName);
}

/**
 * One log line per target and the run's own line; metric sets at the config's `metrics` level: one per target, or
 * one per cluster summing its targets (a worker's shard is one cluster's: CloudWatch's SUM adds the shards). Reports hold no secrets.
 */
export function publishRun(report: RunReport, level: Config["metrics"]): void {
  for (const { dimensions, targets } of metricSets(report.targets, level)) {
    const sum = (count: (target: TargetReport) => number) => targets.reduce((total, target) => total + count(target), 0);
    metrics.addDimensions(dimensions);
    metrics.addMetric("ReadyEndpoints", MetricUnit.Count, sum((target) => target.endpoints.ready));
    metrics.addMetric("NotReadyEndpoints", MetricUnit.Count, sum((target) => target.endpoints.notReady));
    metrics.addMetric("Writes", MetricUnit.Count, sum((target) => target.writes));
    metrics.addMetric("GuardTrips", MetricUnit.Count, sum((target) => target.guards.length));
    metrics.addMetric("SyncFailed", MetricUnit.Count, sum((target) => (target.status === "failed" ? 1 : 0)));
    metrics.addMetric("SyncDuration", MetricUnit.Milliseconds, Math.max(...targets.map((target) => target.durationMs)));
    metrics.publishStoredMetrics();

    // Per target, 0 or 1 for every source; per cluster, the failed ones' count: either way an alarm on it sees the good runs too.
    const sources = targets.flatMap((target) => target.sources);
    const sourceSets = level === "target" ? sources.map((source) => ({ dimensions: { ...dimensions, source: source.name }, sources: [source] })) : [{ dimensions, sources }];
    for (const set of sourceSets) {
      metrics.addDimensions(set.dimensions);
      metrics.addMetric("SourceFailed", MetricUnit.Count, set.sources.filter((source) => source.status === "failed").length);
      metrics.publishStoredMetrics();
    }

    const failures = new Map<string, number>();
    for (const backend of targets.flatMap((target) => target.backends)) if (backend.status !== "pass") failures.set(backend.reason, (failures.get(backend.reason) ?? 0) + 1);
    for (const [reason, count] of failures) {
      metrics.addDimensions({ ...dimensions, reason });
      metrics.addMetric("ProbeFailures", MetricUnit.Count, count);
      metrics.publishStoredMetrics();
    }
  }
  logRun(report);
}

/** The targets each metric set sums, and its dimensions: each target alone, or each cluster's together. */
function metricSets(targets: TargetReport[], level: Config["metrics"]): { dimensions: Record<string, string>; targets: TargetReport[] }[] {
  if (level === "target") return targets.map((target) => ({ dimensions: { target: target.target, cluster: target.cluster }, targets: [target] }));
  const byCluster = new Map<string, TargetReport[]>();
  for (const target of targets) {
    const ofCluster = byCluster.get(target.cluster);
    if (ofCluster) ofCluster.push(target);
    else byCluster.set(target.cluster, [target]);
  }
  return [...byCluster].map(([cluster, ofCluster]) => ({ dimensions: { cluster }, targets: ofCluster }));
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
