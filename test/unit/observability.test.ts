// What the functions log and emit. Every line is JSON with the release in `version` (package.json's), so a
// line found in CloudWatch says which release wrote it. A degraded target (a failed source or a tripped guard)
// logs a WARN "target degraded" line naming its failed sources, and the run's line is a WARN with
// `degraded: true`; every source gets a SourceFailed set (1 failed, 0 answered) with a `source` dimension.
// At the config's `metrics: cluster`, the metric sets are one per cluster instead (exact dimensions and values
// for two clusters below), and the log lines stay one per target.
// Run in a child process, whose stdout is the log as Lambda keeps it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";

const ROOT = join(import.meta.dirname, "../..");

const TARGET = `
const target = (name, status, more = {}) => ({ target: name, cluster: "main", namespace: "shop", service: name, status, sources: [], backends: [],
  endpoints: { ready: 1, notReady: 0 }, rejected: [], kept: [], dropped: [], guards: [], foreign: [], warnings: [], changes: [],
  writes: 0, conflictsRetried: 0, durationMs: 3, ...(status === "failed" && { error: "Service shop/" + name + " not found" }), ...more });
`;

// One failed and one synced target, a prune error, and a line of our own: every kind of line publishRun writes.
const EVERY_KIND = `
import { logger, publishRun } from "./functions/observability.ts";
${TARGET}
publishRun({ ok: false, degraded: false, dryRun: false, durationMs: 9, targets: [target("db", "failed"), target("web", "unchanged")],
  pruned: [{ cluster: "main", changes: [], error: "HTTP 403" }] }, "target");
logger.warn("a line of its own");
`;

const DEGRADED = `
import { publishRun } from "./functions/observability.ts";
${TARGET}
const sources = [{ name: "srv", status: "failed", found: 0, error: "SERVFAIL" }, { name: "vms", status: "ok", found: 2 }];
publishRun({ ok: true, degraded: true, dryRun: false, durationMs: 9, targets: [target("etcd", "degraded", { sources })], pruned: [] }, "target");
`;

// Two clusters, their targets interleaved: a failed one, a degraded one (a failed source, a guard trip, failing
// probes), and synced ones, published at the config's `metrics` level.
const TWO_CLUSTERS = (level: string) => `
import { publishRun } from "./functions/observability.ts";
${TARGET}
const backends = (...verdicts) => verdicts.map(([status, reason], index) => ({ address: "192.0.2." + index, sources: ["s"], status, reason, latencyMs: 1 }));
const ok = (name) => ({ name, status: "ok", found: 1 });
const failed = (name) => ({ name, status: "failed", found: 0, error: "SERVFAIL" });
publishRun({ ok: false, degraded: true, dryRun: false, durationMs: 80, pruned: [], targets: [
  target("db", "failed", { cluster: "east", sources: [failed("vms")], endpoints: { ready: 0, notReady: 0 }, durationMs: 40 }),
  target("cache", "synced", { cluster: "west", sources: [ok("dns")], backends: backends(["fail", "Timeout"], ["fail", "Timeout"], ["pass", "Passed"]),
    endpoints: { ready: 5, notReady: 2 }, writes: 2, durationMs: 12 }),
  target("web", "degraded", { cluster: "east", sources: [failed("srv"), ok("vms")], backends: backends(["fail", "Timeout"], ["pass", "Passed"], ["fail", "ConnRefused"]),
    endpoints: { ready: 1, notReady: 1 }, guards: [{ guard: "failedSource", detail: "kept srv's" }], writes: 3, durationMs: 25 }),
  target("api", "unchanged", { cluster: "east", sources: [ok("static")], backends: backends(["unknown", "Timeout"]), endpoints: { ready: 4, notReady: 0 }, durationMs: 70 }),
] }, ${JSON.stringify(level)});
`;

/** Each metric set a script emits, in order: its dimension names, their values, and its metrics' values. */
async function metricSets(script: string) {
  return (await published(script, { EES_STAGE: "prod" })).flatMap((line) => {
    if (!("_aws" in line)) return [];
    const [{ Dimensions, Metrics }] = (line._aws as { CloudWatchMetrics: [{ Dimensions: [string[]]; Metrics: { Name: string }[] }] }).CloudWatchMetrics;
    return [{ dimensions: Object.fromEntries(Dimensions[0].map((name) => [name, line[name]])), metrics: Object.fromEntries(Metrics.map(({ Name }) => [Name, line[Name]])) }];
  });
}

const run = (Ready: number, NotReady: number, Writes: number, GuardTrips: number, SyncFailed: number, SyncDuration: number) => ({
  ReadyEndpoints: Ready, NotReadyEndpoints: NotReady, Writes, GuardTrips, SyncFailed, SyncDuration,
});

describe("metric sets", () => {
  it("at metrics: target, one per target, one per source of it and one per probe failure reason, each with the target's and cluster's names", async () => {
    const at = (target: string, cluster: string, more: Record<string, string> = {}) => ({ service: "external-endpoint-syncer", stage: "prod", target, cluster, ...more });
    assert.deepEqual(await metricSets(TWO_CLUSTERS("target")), [
      { dimensions: at("db", "east"), metrics: run(0, 0, 0, 0, 1, 40) },
      { dimensions: at("db", "east", { source: "vms" }), metrics: { SourceFailed: 1 } },
      { dimensions: at("cache", "west"), metrics: run(5, 2, 2, 0, 0, 12) },
      { dimensions: at("cache", "west", { source: "dns" }), metrics: { SourceFailed: 0 } },
      { dimensions: at("cache", "west", { reason: "Timeout" }), metrics: { ProbeFailures: 2 } },
      { dimensions: at("web", "east"), metrics: run(1, 1, 3, 1, 0, 25) },
      { dimensions: at("web", "east", { source: "srv" }), metrics: { SourceFailed: 1 } },
      { dimensions: at("web", "east", { source: "vms" }), metrics: { SourceFailed: 0 } },
      { dimensions: at("web", "east", { reason: "Timeout" }), metrics: { ProbeFailures: 1 } },
      { dimensions: at("web", "east", { reason: "ConnRefused" }), metrics: { ProbeFailures: 1 } },
      { dimensions: at("api", "east"), metrics: run(4, 0, 0, 0, 0, 70) },
      { dimensions: at("api", "east", { source: "static" }), metrics: { SourceFailed: 0 } },
      { dimensions: at("api", "east", { reason: "Timeout" }), metrics: { ProbeFailures: 1 } },
    ]);
  });

  it("at metrics: cluster, one per cluster summing its targets (the longest SyncDuration), its failed sources counted, probe failures per reason; no target or source dimension", async () => {
    const at = (cluster: string, more: Record<string, string> = {}) => ({ service: "external-endpoint-syncer", stage: "prod", cluster, ...more });
    assert.deepEqual(await metricSets(TWO_CLUSTERS("cluster")), [
      { dimensions: at("east"), metrics: run(5, 1, 3, 1, 1, 70) },
      { dimensions: at("east"), metrics: { SourceFailed: 2 } },
      { dimensions: at("east", { reason: "Timeout" }), metrics: { ProbeFailures: 2 } },
      { dimensions: at("east", { reason: "ConnRefused" }), metrics: { ProbeFailures: 1 } },
      { dimensions: at("west"), metrics: run(5, 2, 2, 0, 0, 12) },
      { dimensions: at("west"), metrics: { SourceFailed: 0 } },
      { dimensions: at("west", { reason: "Timeout" }), metrics: { ProbeFailures: 2 } },
    ]);
  });

  it("at metrics: cluster, still one log line per target", async () => {
    const logs = (await published(TWO_CLUSTERS("cluster"))).filter((line) => !("_aws" in line));
    assert.deepEqual(logs.map((line) => [line.message, line.target]).sort(), [
      ["sync finished", undefined], ["target degraded", "web"], ["target failed", "db"], ["target synced", "api"], ["target synced", "cache"],
    ]);
  });
});

/** The JSON lines a script writes, log lines and metric sets. Errors and warnings go to stderr, the rest to stdout. */
async function published(script: string, env: Record<string, string> = {}): Promise<Record<string, unknown>[]> {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT, env: { ...process.env, ...env } });
  return `${stdout}${stderr}`.split("\n").filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe("log lines", () => {
  it("carry package.json's version on every line, besides the metrics", async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };
    const logs = (await published(EVERY_KIND)).filter((line) => !("_aws" in line));
    // Their order between stdout and stderr is lost.
    assert.deepEqual(logs.map((line) => line.message).sort(), ["a line of its own", "sync finished", "target failed", "target synced"]);
    for (const line of logs) assert.equal(line.version, version, JSON.stringify(line));
  });

  it("warn of a degraded target and run, and emit SourceFailed per source", async () => {
    const lines = await published(DEGRADED);

    const target = lines.find((line) => line.message === "target degraded");
    assert.ok(target, JSON.stringify(lines));
    assert.deepEqual([target.level, target.status, target.failedSources], ["WARN", "degraded", ["srv"]]);
    const run = lines.find((line) => line.message === "sync finished");
    assert.deepEqual([run?.level, run?.ok, run?.degraded], ["WARN", true, true]);

    const sets = lines.filter((line) => "SourceFailed" in line);
    assert.deepEqual(sets.map((set) => [set.target, set.cluster, set.source, set.SourceFailed]).sort(), [["etcd", "main", "srv", 1], ["etcd", "main", "vms", 0]]);
    const dimensions = (sets[0]!._aws as { CloudWatchMetrics: { Dimensions: string[][] }[] }).CloudWatchMetrics[0]!.Dimensions;
    assert.deepEqual(dimensions, [["service", "target", "cluster", "source"]]);
  });
});
