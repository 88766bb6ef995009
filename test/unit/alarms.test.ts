// infra/alarms.ts refuses settings that would make a broken query or a meaningless heartbeat: the stage goes
// into the alarms' Metrics Insights queries, so it must be a plain name. test/e2e/package.test.ts checks the
// alarms in the template `sls package` writes.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { alarmResources } from "../../infra/alarms.ts";

const settings = { stage: "prod", prefix: "ees-prod", actions: ["arn:aws:sns:eu-west-1:123456789012:ops"], heartbeatMinutes: 15 };

describe("alarmResources", () => {
  it("tells the actions when an alarm fires and when it clears", () => {
    for (const alarm of Object.values(alarmResources(settings))) {
      assert.deepEqual(alarm.Properties.AlarmActions, settings.actions);
      assert.deepEqual(alarm.Properties.OKActions, settings.actions);
    }
  });

  it("refuses a stage that would break out of the query's quotes, and a heartbeat under 5 minutes", () => {
    assert.throws(() => alarmResources({ ...settings, stage: "prod' OR stage = 'dev" }), /stage "prod' OR stage = 'dev": expected letters, digits and '-'/);
    assert.throws(() => alarmResources({ ...settings, heartbeatMinutes: 1 }), /heartbeatMinutes 1: expected a whole number of minutes 5-1440/);
    assert.throws(() => alarmResources({ ...settings, heartbeatMinutes: Number("soon") }), /heartbeatMinutes NaN/);
  });
});
