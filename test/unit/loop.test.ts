// The loop's pure parts: --every and --health-addr parsing, the liveness rule, and --every checked against the
// config's fastDetection as the schema checks syncIntervalSeconds.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validateConfig } from "../../functions/config/load.ts";
import { LIVE_INTERVALS, liveness, parseEvery, parseListenAddress } from "../../functions/loop.ts";

describe("parseEvery", () => {
  for (const [given, seconds] of [["30s", 30], ["1m", 60], ["90s", 90], ["1m30s", 90], ["2h", 7200], ["24h", 86_400], ["1s", 1]] as const) {
    it(`${given} is ${seconds} s`, () => assert.equal(parseEvery(given), seconds));
  }
  for (const given of ["", "30", "0s", "1.5s", "500ms", "30 s", "1s1m", "-1s", "25h", "s"]) {
    it(`refuses ${JSON.stringify(given)}, naming the flag and the value`, () => {
      assert.equal(parseEvery(given), `--every: expected a duration of whole seconds from 1s to 24h, such as 30s, 1m or 1m30s, got ${JSON.stringify(given)}`);
    });
  }
});

describe("parseListenAddress", () => {
  it("reads every interface, a host and a bracketed IPv6 host", () => {
    assert.deepEqual(parseListenAddress(":8080"), { port: 8080 });
    assert.deepEqual(parseListenAddress("127.0.0.1:0"), { host: "127.0.0.1", port: 0 });
    assert.deepEqual(parseListenAddress("[::1]:9090"), { host: "::1", port: 9090 });
  });
  for (const given of ["8080", "::1:8080", "host:", ":65536", ":http", "[::1:80"]) {
    it(`refuses ${JSON.stringify(given)}`, () => assert.match(String(parseListenAddress(given)), /^--health-addr: expected \[HOST\]:PORT.*, got /));
  }
});

describe("liveness", () => {
  const intervalMs = 30_000;
  it("is live before the first run finishes, until the limit", () => {
    const state = { startedAt: 0, runs: 0 };
    assert.deepEqual(liveness(state, intervalMs, 1_000), { live: true, runs: 0, sinceMs: 1_000, limitMs: LIVE_INTERVALS * intervalMs });
    assert.equal(liveness(state, intervalMs, LIVE_INTERVALS * intervalMs + 1).live, false);
  });
  it("counts from the last finished run, failed or not", () => {
    const state = { startedAt: 0, runs: 7, lastFinishedAt: 200_000, lastOk: false };
    assert.deepEqual(liveness(state, intervalMs, 230_000), { live: true, runs: 7, sinceMs: 30_000, limitMs: 120_000, lastRunOk: false });
    assert.equal(liveness(state, intervalMs, 200_000 + 120_000).live, true);
    assert.equal(liveness(state, intervalMs, 200_000 + 120_001).live, false);
  });
});

describe("--every against fastDetection", () => {
  const base = { clusters: [{ name: "c", inCluster: true }], targets: [], fastDetection: { everySeconds: 5, forSeconds: 25 } };
  it("refuses fast detection that outlasts the loop's interval, naming the field, the value and the flag", () => {
    const result = validateConfig(base, { loopIntervalSeconds: 20 });
    assert.deepEqual(result.ok ? [] : result.problems, ["fastDetection.forSeconds: expected less than --every (20 s), got 25"]);
  });
  it("takes fast detection that ends before the next tick", () => {
    assert.equal(validateConfig(base, { loopIntervalSeconds: 30 }).ok, true);
  });
});
