// infra/alarms.ts refuses settings that would make a broken query or a meaningless heartbeat: the stage goes
// into the alarms' Metrics Insights queries, so it must be a plain name. test/e2e/package.test.ts checks the
// alarms in the template `sls package` writes. Their queries name the dimensions of the config's `metrics` level.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { alarmResources } from "../../infra/alarms.ts";

const settings = { stage: "prod", prefix: "ees-prod", actions: ["arn:aws:sns:eu-west-1:123456789012:ops"], heartbeatMinutes: 15, metrics: "target" as const };

describe("alarmResources", () => {
  it("tells the actions when an alarm fires and when it clears", () => {
    for (const alarm of Object.values(alarmResources(settings))) {
      assert.deepEqual(alarm.Properties.AlarmActions, settings.actions);
      assert.deepEqual(alarm.Properties.OKActions, settings.actions);
    }
  });

  it("query the sync metrics by the config's level: with a target dimension, or per cluster without one; the worker's own run metrics alike at both", () => {
    const queries = (metrics: "target" | "cluster") =>
      Object.fromEntries(Object.entries(alarmResources({ ...settings, metrics })).flatMap(([id, alarm]) => ((alarm.Properties.Metrics as { Expression: string }[] | undefined) ?? []).map((query) => [id, query.Expression])));
    const sync = (schema: string) => ({
      SyncFailedAlarm: `SELECT SUM(SyncFailed) FROM ${schema} WHERE stage = 'prod'`,
      GuardTripsAlarm: `SELECT SUM(GuardTrips) FROM ${schema} WHERE stage = 'prod'`,
      HeartbeatAlarm: `SELECT COUNT(SyncDuration) FROM ${schema} WHERE stage = 'prod'`,
      ShardStaleAlarm: `SELECT SUM(ShardStale) FROM SCHEMA("ExternalEndpointSyncer", service, stage) WHERE stage = 'prod'`,
    });
    assert.deepEqual(queries("target"), sync(`SCHEMA("ExternalEndpointSyncer", cluster, service, stage, target)`));
    assert.deepEqual(queries("cluster"), sync(`SCHEMA("ExternalEndpointSyncer", cluster, service, stage)`));
  });

  it("refuses a stage that would break out of the query's quotes, and a heartbeat under 5 minutes", () => {
    assert.throws(() => alarmResources({ ...settings, stage: "prod' OR stage = 'dev" }), /stage "prod' OR stage = 'dev": expected letters, digits and '-'/);
    assert.throws(() => alarmResources({ ...settings, heartbeatMinutes: 1 }), /heartbeatMinutes 1: expected a whole number of minutes 5-1440/);
    assert.throws(() => alarmResources({ ...settings, heartbeatMinutes: Number("soon") }), /heartbeatMinutes NaN/);
  });
});
