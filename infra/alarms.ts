// serverless.yml's opt-in CloudWatch alarms (param `alarms: true`), on the metrics functions/observability.ts
// emits and on the dispatch queues (infra/resources.ts). Each target's (or, at the config's `metrics: cluster`,
// each cluster's) metrics carry its own dimensions, so the alarms query them all at once with CloudWatch Metrics
// Insights, for this stage alone.

import type { Config } from "../functions/config/schema.ts";

const NAMESPACE = "ExternalEndpointSyncer";
/** The dimensions of every target's or every cluster's metric set, by the config's `metrics` (observability.ts: default ones, then target and cluster). */
const SYNC_SCHEMA = { target: `SCHEMA("${NAMESPACE}", cluster, service, stage, target)`, cluster: `SCHEMA("${NAMESPACE}", cluster, service, stage)` };
/** The dimensions of a run's own metrics (the worker's ShardStale, ShardDeadLettered). */
const RUN_SCHEMA = `SCHEMA("${NAMESPACE}", service, stage)`;

export interface AlarmSettings {
  stage: string;
  /** Prefix of the alarms' names: the service and stage. */
  prefix: string;
  /** SNS topics (or other alarm actions) told when an alarm fires and when it clears. */
  actions: string[];
  /** No run finished for this long: the heartbeat alarm fires. */
  heartbeatMinutes: number;
  /** The config's `metrics`: the dimensions the sync metrics carry. */
  metrics: Config["metrics"];
}

type Alarm = { Type: "AWS::CloudWatch::Alarm"; Properties: Record<string, unknown> };

/** The alarms as CloudFormation resources, by logical id. */
export function alarmResources({ stage, prefix, actions, heartbeatMinutes, metrics: level }: AlarmSettings): Record<string, Alarm> {
  if (!/^[A-Za-z0-9-]+$/.test(stage)) throw new Error(`stage ${JSON.stringify(stage)}: expected letters, digits and '-' (it goes into the alarms' queries)`);
  if (!Number.isInteger(heartbeatMinutes) || heartbeatMinutes < 5 || heartbeatMinutes > 1440) throw new Error(`heartbeatMinutes ${heartbeatMinutes}: expected a whole number of minutes 5-1440`);
  const query = (aggregate: string, schema = SYNC_SCHEMA[level]) => `SELECT ${aggregate} FROM ${schema} WHERE stage = '${stage}'`;
  const alarm = (name: string, description: string, properties: Record<string, unknown>): Alarm => ({
    Type: "AWS::CloudWatch::Alarm",
    Properties: { AlarmName: `${prefix}-${name}`, AlarmDescription: description, ActionsEnabled: true, AlarmActions: actions, OKActions: actions, ...properties },
  });
  const metrics = (expression: string, periodSeconds: number) => [{ Id: "q", Expression: expression, Period: periodSeconds, ReturnData: true }];
  return {
    SyncFailedAlarm: alarm("sync-failed", "A target failed to sync in the last 5 minutes (its log line and the Service's SyncFailed Event say why).", {
      Metrics: metrics(query("SUM(SyncFailed)"), 300),
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      Threshold: 1,
      EvaluationPeriods: 1,
      TreatMissingData: "notBreaching",
    }),
    GuardTripsAlarm: alarm("guard-trips", "A guard held back a target's endpoints in the last 5 minutes (the Service's GuardTripped Event says which).", {
      Metrics: metrics(query("SUM(GuardTrips)"), 300),
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      Threshold: 1,
      EvaluationPeriods: 1,
      TreatMissingData: "notBreaching",
    }),
    // Every run emits SyncDuration for every target (or cluster), failed or not: none at all means no run finished.
    HeartbeatAlarm: alarm("heartbeat", `No sync run finished for ${heartbeatMinutes} minutes: the schedule, the function or its config is broken.`, {
      Metrics: metrics(query("COUNT(SyncDuration)"), 60 * heartbeatMinutes),
      ComparisonOperator: "LessThanThreshold",
      Threshold: 1,
      EvaluationPeriods: 1,
      TreatMissingData: "breaching",
    }),
    // SQS's own count, so a shard that got there any way (a worker that timed out on its last receive) is seen.
    DeadLetterAlarm: alarm("dead-letter", "A shard is in the dead-letter queue: it failed every receive (the worker's `shard dead-lettered` log line says why).", {
      Namespace: "AWS/SQS",
      MetricName: "ApproximateNumberOfMessagesVisible",
      Dimensions: [{ Name: "QueueName", Value: { "Fn::GetAtt": ["DispatchDeadLetterQueue", "QueueName"] } }],
      Statistic: "Maximum",
      Period: 300,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      Threshold: 1,
      EvaluationPeriods: 1,
      TreatMissingData: "notBreaching",
    }),
    ShardStaleAlarm: alarm("shard-stale", "Workers dropped stale shards in the last 5 minutes: a lane's shards take longer than the interval (raise workersPerCluster or the worker's memory, docs/scaling.md).", {
      Metrics: metrics(query("SUM(ShardStale)", RUN_SCHEMA), 300),
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      Threshold: 1,
      EvaluationPeriods: 1,
      TreatMissingData: "notBreaching",
    }),
  };
}
