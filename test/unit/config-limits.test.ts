// What the config may ask of the process and the functions that run it: fast detection within the sync
// function's timeout and with more than one round, probing within what POST /sync may take, no more probes at
// once than the process has file descriptors for, and the interval of the schedule that runs it. Each problem
// names the field and the value.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { RESERVED_FILES } from "../../functions/config/limits.ts";
import { validateConfig } from "../../functions/config/load.ts";
import type { RuntimeLimits } from "../../functions/config/limits.ts";

function validate(top: Record<string, unknown>, target: Record<string, unknown> = {}, limits: RuntimeLimits = {}) {
  return validateConfig(
    {
      clusters: [{ name: "c" }],
      targets: [{ name: "db", cluster: "c", namespace: "n", service: "s", ports: [{ port: 2379 }], sources: [{ static: [{ address: "10.0.0.1" }] }], ...target }],
      ...top,
    },
    limits,
  );
}

const problems = (result: ReturnType<typeof validateConfig>) => (result.ok ? [] : result.problems);

describe("fast detection", () => {
  it("refuses everySeconds at or past forSeconds: there would be no second round", () => {
    assert.deepEqual(problems(validate({ fastDetection: { everySeconds: 20, forSeconds: 20 } })), ["fastDetection.everySeconds: expected less than forSeconds (20), got 20"]);
    assert.deepEqual(problems(validate({ fastDetection: { everySeconds: 30, forSeconds: 20 } })), ["fastDetection.everySeconds: expected less than forSeconds (20), got 30"]);
    // everySeconds left at its default of 5.
    assert.deepEqual(problems(validate({ fastDetection: { forSeconds: 5 } })), ["fastDetection.everySeconds: expected less than forSeconds (5)"]);
    assert.ok(validate({ fastDetection: { everySeconds: 4, forSeconds: 5 } }).ok);
  });

  it("refuses forSeconds at or past the sync function's timeout, where it is known", () => {
    const config = { syncIntervalSeconds: 300, fastDetection: { forSeconds: 60 } };
    assert.deepEqual(problems(validate(config, {}, { syncTimeoutSeconds: 60 })), ["fastDetection.forSeconds: expected less than the sync function's timeout (60 s), got 60"]);
    assert.deepEqual(problems(validate({ syncIntervalSeconds: 900, fastDetection: { forSeconds: 600 } }, {}, { syncTimeoutSeconds: 60 })), [
      "fastDetection.forSeconds: expected less than the sync function's timeout (60 s), got 600",
    ]);
    assert.ok(validate({ ...config, fastDetection: { forSeconds: 59 } }, {}, { syncTimeoutSeconds: 60 }).ok);
    // The CLI knows no function timeout; syncIntervalSeconds still bounds it.
    assert.ok(validate(config).ok);
    assert.deepEqual(problems(validate({ fastDetection: { forSeconds: 60 } })), ["fastDetection.forSeconds: expected less than syncIntervalSeconds (60), got 60"]);
  });
});

describe("syncIntervalSeconds and the sync function's schedule", () => {
  it("refuses a config whose interval is not the schedule's, naming both, the default too", () => {
    const schedule = "the interval of the sync function's schedule (EES_SYNC_INTERVAL_SECONDS, derived from the config file serverless packaged)";
    assert.deepEqual(problems(validate({ syncIntervalSeconds: 300 }, {}, { scheduleIntervalSeconds: 60 })), [
      `syncIntervalSeconds: expected 60, ${schedule}, not 300: give this config and that file the same syncIntervalSeconds, got 300`,
    ]);
    assert.deepEqual(problems(validate({}, {}, { scheduleIntervalSeconds: 120 })), [`syncIntervalSeconds: expected 120, ${schedule}, not 60: give this config and that file the same syncIntervalSeconds`]);
    assert.ok(validate({ syncIntervalSeconds: 120 }, {}, { scheduleIntervalSeconds: 120 }).ok);
    assert.ok(validate({}, {}, { scheduleIntervalSeconds: 60 }).ok);
    // The CLI runs on no schedule.
    assert.ok(validate({ syncIntervalSeconds: 300 }).ok);
  });
});

describe("metrics and the level the alarms query", () => {
  it("refuses a config whose metrics level is not the packaged one's, naming both, the default too", () => {
    const alarms = "the level the alarms query (EES_METRICS_LEVEL, from the config file serverless packaged)";
    assert.deepEqual(problems(validate({ metrics: "cluster" }, {}, { metricsLevel: "target" })), [
      `metrics: expected target, ${alarms}, not cluster: give this config and that file the same metrics, got "cluster"`,
    ]);
    assert.deepEqual(problems(validate({}, {}, { metricsLevel: "cluster" })), [`metrics: expected cluster, ${alarms}, not target: give this config and that file the same metrics`]);
    assert.ok(validate({ metrics: "cluster" }, {}, { metricsLevel: "cluster" }).ok);
    assert.ok(validate({}, {}, { metricsLevel: "target" }).ok);
    // The CLI has no alarms.
    assert.ok(validate({ metrics: "cluster" }).ok);
  });
});

describe("probing within POST /sync's 29 s", () => {
  it("counts every check of the list, twice where a failure is re-checked, and 1.5 times the re-check delay", () => {
    // 2 × (10000 + 4000) + 1.5 × 1000 = 29.5 s.
    const list = [{ tcp: { timeoutMs: 10_000 } }, { http: { timeoutMs: 4000 } }];
    assert.deepEqual(problems(validate({}, { check: list, recheckDelayMs: 1000 })), [
      "targets[0].check: target db: probing one backend can take 29.5 s (2 × 14000 ms of checks + 1.5 × 1000 ms re-check delay), and POST /sync must answer within 29 s; lower the timeouts or recheckDelayMs",
    ]);
    assert.ok(validate({}, { check: list, recheckDelayMs: 600 }).ok, "2 × 14000 + 900 = 28.9 s");
  });

  it("counts each check once when there is no re-check", () => {
    assert.ok(validate({}, { check: { grpc: { timeoutMs: 28_000 } }, recheckDelayMs: 0 }).ok);
    assert.deepEqual(problems(validate({}, { check: [{ tcp: { timeoutMs: 20_000 } }, { tcp: { timeoutMs: 9000 } }], recheckDelayMs: 0 })), [
      "targets[0].check: target db: probing one backend can take 29 s (29000 ms of checks), and POST /sync must answer within 29 s; lower the timeouts or recheckDelayMs",
    ]);
  });

  it("passes the defaults and a target that is not checked", () => {
    assert.ok(validate({}).ok);
    assert.ok(validate({}, { check: { none: {} }, recheckDelayMs: 10_000 }).ok);
  });
});

describe("checkConcurrency within the descriptor limit", () => {
  it(`refuses more probes at once than the open-file limit less ${RESERVED_FILES} allows`, () => {
    assert.deepEqual(problems(validate({ checkConcurrency: 10_000 }, {}, { openFiles: 1024 })), [
      `checkConcurrency: expected at most 924: 10000 probes at once hold as many sockets, this process may open 1024 files (ulimit -n), and ${RESERVED_FILES} are kept for other than probes, got 10000`,
    ]);
    assert.ok(validate({ checkConcurrency: 924 }, {}, { openFiles: 1024 }).ok);
    // The default, 900, fits Lambda's 1,024.
    assert.ok(validate({}, {}, { openFiles: 1024 }).ok);
    assert.deepEqual(problems(validate({}, {}, { openFiles: 300 })), [
      `checkConcurrency: expected at most 200: 900 probes at once hold as many sockets, this process may open 300 files (ulimit -n), and ${RESERVED_FILES} are kept for other than probes`,
    ]);
  });

  it("lists a limit's problem beside the schema's own", () => {
    const result = validate({ checkConcurrency: 500 }, { namespace: "Upper" }, { openFiles: 256 });
    assert.deepEqual(problems(result), [
      `targets[0].namespace: expected a DNS label (lower-case letters, digits and '-'), got "Upper"`,
      `checkConcurrency: expected at most 156: 500 probes at once hold as many sockets, this process may open 256 files (ulimit -n), and ${RESERVED_FILES} are kept for other than probes, got 500`,
    ]);
  });
});
