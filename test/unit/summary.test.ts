// The summary the functions return, bounded: Lambda refuses a response over 6 MB, and API Gateway then answers
// 502. Cases: a small run is summarized whole, with no `omitted`, a degraded target naming its failed sources; a run of 20,000 targets and 5,000 pruned
// objects fits in SUMMARY_MAX_BYTES, keeps failed and degraded targets and prune errors before changes, and
// changes before the rest, in the run's order, and counts what it left out (targets by status).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ChangeReport, RunReport, TargetReport } from "../../functions/report/report.ts";
import { summarize, SUMMARY_MAX_BYTES } from "../../functions/report/summary.ts";

function targetReport(overrides: Partial<TargetReport>): TargetReport {
  return {
    target: "db",
    cluster: "main",
    namespace: "shop",
    service: "postgres",
    status: "unchanged",
    sources: [],
    backends: [],
    endpoints: { ready: 2, notReady: 0 },
    rejected: [],
    kept: [],
    dropped: [],
    guards: [],
    foreign: [],
    warnings: [],
    changes: [],
    writes: 0,
    conflictsRetried: 0,
    durationMs: 12,
    ...overrides,
  };
}

const change: ChangeReport = { action: "update", kind: "EndpointSlice", namespace: "shop", name: "web-ipv4-0", endpoints: [] };

describe("run summary", () => {
  it("summarizes a small run whole", () => {
    const report: RunReport = {
      ok: true,
      degraded: true,
      dryRun: false,
      durationMs: 40,
      targets: [
        targetReport({ target: "db" }),
        targetReport({ target: "web", status: "synced", changes: [change], writes: 1 }),
        targetReport({ target: "etcd", status: "degraded", sources: [{ name: "srv", status: "failed", found: 0, error: "SERVFAIL" }, { name: "vms", status: "ok", found: 2 }] }),
      ],
      pruned: [{ cluster: "main", changes: [{ ...change, action: "delete", name: "old-ipv4-0" }] }],
    };
    assert.deepEqual(summarize(report), {
      ok: true,
      degraded: true,
      dryRun: false,
      durationMs: 40,
      targets: [
        { target: "db", cluster: "main", kubernetesService: "shop/postgres", status: "unchanged", ready: 2, notReady: 0, changes: 0, writes: 0 },
        { target: "web", cluster: "main", kubernetesService: "shop/postgres", status: "synced", ready: 2, notReady: 0, changes: 1, writes: 1 },
        { target: "etcd", cluster: "main", kubernetesService: "shop/postgres", status: "degraded", ready: 2, notReady: 0, changes: 0, writes: 0, failedSources: ["srv"] },
      ],
      pruned: [{ cluster: "main", deleted: "EndpointSlice shop/old-ipv4-0" }],
    });
  });

  it("keeps a run of 20,000 targets within SUMMARY_MAX_BYTES, what went wrong first, and counts the rest", () => {
    const targets = Array.from({ length: 20_000 }, (_, index) => {
      const target = `target-${String(index).padStart(5, "0")}`;
      if (index % 1_000 === 999) return targetReport({ target, status: "failed", error: `cannot reach the API server: ${"x".repeat(200)}` });
      if (index % 1_000 === 500) return targetReport({ target, status: "degraded", guards: [{ guard: "neverEmpty", detail: "every backend failed" }] });
      if (index % 10 === 5) return targetReport({ target, status: "synced", changes: [change], writes: 1 });
      return targetReport({ target });
    });
    const pruned: RunReport["pruned"] = [
      { cluster: "main", changes: Array.from({ length: 5_000 }, (_, index) => ({ ...change, action: "delete" as const, name: `gone-${index}` })) },
      { cluster: "edge", changes: [], error: "Forbidden: cannot list endpointslices" },
    ];
    const summary = summarize({ ok: false, degraded: true, dryRun: false, durationMs: 900, targets, pruned });

    const bytes = Buffer.byteLength(JSON.stringify(summary));
    assert.ok(bytes <= SUMMARY_MAX_BYTES, `${bytes} bytes`);
    assert.ok(bytes > SUMMARY_MAX_BYTES - 1_000, `${bytes} bytes: the room is used`);
    const listed = summary.targets.map((line) => line.target);
    assert.deepEqual(listed, [...listed].sort(), "in the run's order");
    const failedOrDegraded = targets.filter((target) => target.status === "failed" || target.status === "degraded").map((target) => target.target);
    const changed = targets.filter((target) => target.status === "synced").map((target) => target.target);
    assert.deepEqual(listed.filter((name) => failedOrDegraded.includes(name)), failedOrDegraded, "every failed or degraded target is listed");
    assert.deepEqual(listed.filter((name) => changed.includes(name)), changed, "every changed target is listed");
    assert.ok(summary.pruned.some((line) => "error" in line), "the prune error is listed");

    const { omitted } = summary;
    assert.ok(omitted, "a summary that was cut says so");
    assert.equal(omitted.targets + summary.targets.length, 20_000);
    assert.equal(omitted.pruned + summary.pruned.length, 5_001);
    assert.deepEqual(omitted.statuses, { unchanged: omitted.targets }, "only unchanged targets were left out");
    assert.equal(omitted.pruned, 0, "deletions come before unchanged targets");
    assert.equal(summary.ok, false);
  });
});
