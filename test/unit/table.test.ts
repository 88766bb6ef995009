import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { RunReport, TargetReport } from "../../functions/report/report.ts";
import { formatTable, LISTED } from "../../functions/report/table.ts";

function targetReport(overrides: Partial<TargetReport>): TargetReport {
  return {
    target: "db",
    cluster: "main",
    namespace: "shop",
    service: "postgres",
    status: "unchanged",
    sources: [{ name: "racks", status: "ok", found: 2 }],
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

const dryRun: RunReport = {
  ok: true,
  degraded: false,
  dryRun: true,
  durationMs: 40,
  targets: [
    targetReport({
      target: "db",
      status: "planned",
      endpoints: { ready: 1, notReady: 1 },
      backends: [
        { address: "10.0.0.1", sources: ["racks"], status: "pass", reason: "Passed", latencyMs: 2 },
        { address: "10.0.0.2", sources: ["racks"], status: "fail", reason: "ConnRefused", latencyMs: 1, detail: "ECONNREFUSED" },
      ],
      changes: [
        {
          action: "update",
          kind: "EndpointSlice",
          namespace: "shop",
          name: "postgres-ipv4-0",
          endpoints: [
            { address: "10.0.0.2", change: "notReady" },
            { address: "10.0.0.3", change: "added" },
            { address: "10.0.0.4", change: "removed" },
          ],
        },
        { action: "create", kind: "Endpoints", namespace: "shop", name: "postgres", endpoints: [{ address: "10.0.0.5", change: "ready" }] },
      ],
    }),
    targetReport({
      target: "web-frontend",
      cluster: "edge",
      namespace: "web",
      service: "frontend",
      status: "failed",
      error: "Service web/frontend has a selector (app=web): its endpoints belong to Kubernetes, so we write none",
      sources: [{ name: "dns", status: "failed", found: 0, error: "ENOTFOUND" }],
      rejected: [{ address: "127.0.0.1", sources: ["dns"], reason: "loopback address, refused by the API server" }],
      kept: [{ address: "10.1.0.1", reason: "source failed: dns" }],
      dropped: ["10.1.0.9"],
      foreign: [{ kind: "EndpointSlice", name: "frontend-abcde", managedBy: "endpointslice-controller.k8s.io" }],
      endpoints: { ready: 1000, notReady: 0 },
      durationMs: 1500,
    }),
  ],
  pruned: [
    {
      cluster: "main",
      changes: [{ action: "delete", kind: "EndpointSlice", namespace: "old", name: "gone-ipv4-0", endpoints: [{ address: "10.9.0.1", change: "removed" }] }],
    },
    { cluster: "edge", changes: [], error: "forbidden" },
  ],
};

describe("formatTable", () => {
  it("shows a header and one aligned row per target", () => {
    const lines = formatTable(dryRun).split("\n");

    assert.deepEqual(lines.slice(0, 3), [
      "TARGET        CLUSTER  SERVICE        STATUS   READY  NOT READY  CHANGES  WRITES  TIME",
      "db            main     shop/postgres  planned  1      1          2        0       12 ms",
      "web-frontend  edge     web/frontend   failed   1000   0          0        0       1500 ms",
    ]);
  });

  it("lists a dry run's per-endpoint changes with 'would', and says nothing was written", () => {
    const text = formatTable(dryRun);

    assert.ok(text.includes("db: would update EndpointSlice shop/postgres-ipv4-0: ~ not ready 10.0.0.2, + 10.0.0.3, - 10.0.0.4"), text);
    assert.ok(text.includes("db: would create Endpoints shop/postgres: ~ ready 10.0.0.5"), text);
    assert.ok(text.includes("prune main: would delete EndpointSlice old/gone-ipv4-0: - 10.9.0.1"), text);
    assert.equal(text.split("\n").at(-1), "dry run: nothing was written");
  });

  it("says what was done, without 'would', in a real run", () => {
    const text = formatTable({ ...dryRun, dryRun: false });

    assert.ok(text.includes("db: update EndpointSlice shop/postgres-ipv4-0: ~ not ready 10.0.0.2, + 10.0.0.3, - 10.0.0.4"), text);
    assert.ok(text.includes("prune main: delete EndpointSlice old/gone-ipv4-0: - 10.9.0.1"), text);
    assert.ok(!text.includes("would"), text);
    assert.ok(!text.includes("dry run"), text);
  });

  it("explains every problem of a target on its own line", () => {
    const lines = formatTable(dryRun).split("\n");

    for (const expected of [
      "db: 10.0.0.2 fail: ConnRefused (ECONNREFUSED)",
      "web-frontend: error: Service web/frontend has a selector (app=web): its endpoints belong to Kubernetes, so we write none",
      "web-frontend: source dns failed: ENOTFOUND",
      "web-frontend: left out 127.0.0.1 (dns): loopback address, refused by the API server",
      "web-frontend: kept 10.1.0.1: source failed: dns",
      "web-frontend: dropped failing 10.1.0.9",
      "web-frontend: left alone EndpointSlice frontend-abcde, managed by endpointslice-controller.k8s.io",
      "prune edge: failed: forbidden",
    ]) {
      assert.ok(lines.includes(expected), `missing line ${JSON.stringify(expected)} in\n${lines.join("\n")}`);
    }
    assert.ok(!lines.some((line) => line.includes("10.0.0.1 pass")), "passing backends are not listed");
  });

  it("shows a degraded target's status, why, and counts the degraded targets at the end", () => {
    const degraded = targetReport({
      target: "etcd",
      status: "degraded",
      sources: [{ name: "srv", status: "failed", found: 0, error: "queryA SERVFAIL etcd.internal" }],
      guards: [{ guard: "failedSource", detail: "source srv failed: kept the 3 endpoints it published" }],
    });
    const lines = formatTable({ ok: true, degraded: true, dryRun: false, durationMs: 20, targets: [degraded, targetReport({ target: "db" })], pruned: [] }).split("\n");

    assert.match(lines[1]!, /^etcd\s+main\s+shop\/postgres\s+degraded\s/);
    assert.match(lines[2]!, /^db\s+main\s+shop\/postgres\s+unchanged\s/);
    assert.ok(lines.includes("etcd: source srv failed: queryA SERVFAIL etcd.internal"), lines.join("\n"));
    assert.ok(lines.includes("etcd: guard failedSource: source srv failed: kept the 3 endpoints it published"), lines.join("\n"));
    assert.equal(lines.at(-1), "degraded: 1 target ran with a failed source or a guard holding changes back; what they publish may be stale");
  });

  it("prints only the header for a run with no targets", () => {
    assert.equal(formatTable({ ok: true, degraded: false, dryRun: false, durationMs: 0, targets: [], pruned: [] }), "TARGET  CLUSTER  SERVICE  STATUS  READY  NOT READY  CHANGES  WRITES  TIME");
  });

  it("sums up a first sync of 3,500 addresses in one short line per change", () => {
    const addresses = Array.from({ length: 3_500 }, (_, index) => `198.18.${Math.floor(index / 250)}.${(index % 250) + 1}`);
    const first = targetReport({
      status: "synced",
      endpoints: { ready: 3_490, notReady: 10 },
      changes: [
        {
          action: "create",
          kind: "EndpointSlice",
          namespace: "shop",
          name: "postgres-ipv4-0",
          endpoints: addresses.map((address, index) => ({ address, change: index < 10 ? "notReady" : "added" })),
        },
      ],
    });
    const report: RunReport = { ok: true, degraded: false, dryRun: false, durationMs: 900, targets: [first], pruned: [] };

    const change = formatTable(report).split("\n").find((line) => line.startsWith("db: create EndpointSlice"))!;

    const listed = addresses.slice(0, LISTED).map((address) => `~ not ready ${address}`).join(", ");
    assert.equal(change, `db: create EndpointSlice shop/postgres-ipv4-0: ${listed}, and 3,490 more (3,500 in all: + 3,490, ~ not ready 10)`);
    assert.ok(change.length < 400, `${change.length} characters`);
    assert.equal(report.targets[0]!.changes[0]!.endpoints.length, 3_500, "the report, which -o json prints, is left whole");
  });

  it("lists at most LISTED failing backends, kept, dropped and left-out addresses of a target, and counts the rest by reason", () => {
    const many = (count: number, base: string) => Array.from({ length: count }, (_, index) => `${base}.${index + 1}`);
    const target = targetReport({
      status: "synced",
      backends: [
        ...many(25, "198.18.1").map((address, index) => ({
          address,
          sources: ["racks"],
          status: "fail" as const,
          reason: index < 20 ? ("Timeout" as const) : ("ConnRefused" as const),
          latencyMs: 1000,
        })),
        ...many(100, "198.18.2").map((address) => ({ address, sources: ["racks"], status: "pass" as const, reason: "Passed" as const, latencyMs: 1 })),
      ],
      kept: many(12, "198.18.3").map((address) => ({ address, reason: "source failed: racks" })),
      dropped: many(11, "198.18.4"),
      rejected: many(LISTED, "198.18.5").map((address) => ({ address, sources: ["racks"], reason: "not in the allowed ranges" })),
    });

    const lines = formatTable({ ok: true, degraded: false, dryRun: false, durationMs: 900, targets: [target], pruned: [] }).split("\n");

    const count = (prefix: RegExp) => lines.filter((line) => prefix.test(line)).length;
    assert.equal(count(/^db: 198\.18\.1\.\d+ fail: /), LISTED);
    assert.ok(lines.includes("db: and 15 more backends failing or pending: Timeout 10, ConnRefused 5 (all in the JSON report)"), lines.join("\n"));
    assert.equal(count(/^db: kept /), LISTED);
    assert.ok(lines.includes("db: and 2 more kept (all in the JSON report)"), lines.join("\n"));
    assert.equal(count(/^db: dropped failing /), LISTED);
    assert.ok(lines.includes("db: and 1 more dropped (all in the JSON report)"), lines.join("\n"));
    assert.equal(count(/^db: left out /), LISTED, "exactly LISTED are all listed, with no summary");
    assert.ok(!lines.some((line) => line.includes("more left out")), lines.join("\n"));
  });
});
