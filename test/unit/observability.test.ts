// What the functions log and emit. Every line is JSON with the release in `version` (package.json's), so a
// line found in CloudWatch says which release wrote it. A degraded target (a failed source or a tripped guard)
// logs a WARN "target degraded" line naming its failed sources, and the run's line is a WARN with
// `degraded: true`; every source gets a SourceFailed set (1 failed, 0 answered) with a `source` dimension.
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

/** The JSON lines a script writes, log lines and metric sets. Errors and warnings go to stderr, the rest to stdout. */
async function published(script: string): Promise<Record<string, unknown>[]> {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT });
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
