// What the functions log: every line is JSON with the release in `version` (package.json's), so a line found
// in CloudWatch says which release wrote it. Run in a child process, whose stdout is the log as Lambda keeps it.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { promisify } from "node:util";

const ROOT = join(import.meta.dirname, "../..");

// One failed and one synced target, a prune error, and a line of our own: every kind of line publishRun writes.
const SCRIPT = `
import { logger, publishRun } from "./functions/observability.ts";
const target = (name, status) => ({ target: name, cluster: "main", namespace: "shop", service: name, status, sources: [], backends: [],
  endpoints: { ready: 1, notReady: 0 }, rejected: [], kept: [], dropped: [], guards: [], foreign: [], warnings: [], changes: [],
  writes: 0, conflictsRetried: 0, durationMs: 3, ...(status === "failed" && { error: "Service shop/" + name + " not found" }) });
publishRun({ ok: false, dryRun: false, durationMs: 9, targets: [target("db", "failed"), target("web", "unchanged")],
  pruned: [{ cluster: "main", changes: [], error: "HTTP 403" }] });
logger.warn("a line of its own");
`;

describe("log lines", () => {
  it("carry package.json's version on every line, besides the metrics", async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };
    const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", SCRIPT], { cwd: ROOT });
    const lines = `${stdout}${stderr}`.split("\n").filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
    const logs = lines.filter((line) => !("_aws" in line));
    // Errors and warnings go to stderr, the rest to stdout: their order between the two is lost.
    assert.deepEqual(logs.map((line) => line.message).sort(), ["a line of its own", "sync finished", "target failed", "target synced"]);
    for (const line of logs) assert.equal(line.version, version, JSON.stringify(line));
  });
});
