// The engine against the in-memory fake API server (test/harness/fake-kube.ts): no root, no network, no
// kube-apiserver. Backends are documentation addresses with `check: none`, so nothing is ever probed.
// test/integration/sync.test.ts runs the same paths against a real API server.
//
// Cases: a new target writes exactly one slice, Endpoints and memory, and a resync writes nothing;
// a dry run writes nothing; a failed source or a tripped guard makes the target and run degraded (a failure
// wins); fast-detection rounds are counted and merged (a failed round keeps its error; degraded as the last round's
// sources and every round's guards show); pruning under sync
// deletes what left the config, the prune guard holds back `targets: []` (a degraded run) unless allowPruneAll, and another
// installation's or cluster entry's objects are never touched; upsert-only lists nothing to prune; a Service
// that gains a selector loses our objects and gets a Warning Event; a write that fails, or a check that cannot
// be built, raises a SyncFailed Warning Event when the failure starts or changes, not every run.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { validateConfig } from "../../functions/config/load.ts";
import type { Config } from "../../functions/config/schema.ts";
import { runSync } from "../../functions/engine/run.ts";
import { planPrune } from "../../functions/engine/prune.ts";
import { CLUSTER_ENTRY, INSTALLATION, OWNER, sliceLabels, endpointsLabels, type Writer } from "../../functions/registry/labels.ts";
import { FakeKube } from "../harness/fake-kube.ts";

const NAMESPACE = "shop";
const WRITER: Writer = { ownerId: "default", installation: "default", cluster: "main" };
const ADDRESSES = ["192.0.2.10", "192.0.2.11"];

function target(service: string, overrides: Record<string, unknown> = {}) {
  return {
    name: service,
    cluster: "main",
    namespace: NAMESPACE,
    service,
    ports: [{ name: "pg", port: 5432 }],
    sources: [{ name: "vms", static: ADDRESSES.map((address) => ({ address })) }],
    check: { none: {} },
    ...overrides,
  };
}

/** A config through the real validator, so the tests run with the defaults users get. */
function config(targets: Record<string, unknown>[], extra: Record<string, unknown> = {}): Config {
  const result = validateConfig({ clusters: [{ name: "main" }], targets, ...extra });
  if (!result.ok) throw new Error(`test config is invalid:\n${result.problems.join("\n")}`);
  return result.config;
}

/** A fake holding selector-less Services for `services`, as a user would have made them. */
function fakeWithServices(...services: string[]): FakeKube {
  const fake = new FakeKube();
  for (const name of services) fake.seed({ kind: "Service", metadata: { name, namespace: NAMESPACE }, spec: { ports: [{ name: "pg", port: 5432, protocol: "TCP" }] } });
  return fake;
}

/** Runs the syncer over the fake; returns the report and the writes it made, events apart. */
async function sync(fake: FakeKube, configured: Config, options: Parameters<typeof runSync>[2] = {}) {
  const mark = fake.actions.length;
  const report = await runSync(configured, fake.connections(), options);
  const writes = fake.writes(mark);
  return { report, writes: writes.filter((write) => !write.includes(" events ")).sort(), events: writes.filter((write) => write.includes(" events ")).length };
}

const eventsOf = (fake: FakeKube, service: string) =>
  fake.objects("events", { namespace: NAMESPACE }).filter((event) => (event.involvedObject as { name?: string }).name === service) as { type?: string; reason?: string; message?: string }[];

describe("runSync against the in-memory fake API server", () => {
  it("a new target: exactly one create of endpointslices, endpoints and configmaps; a resync writes nothing", async () => {
    const fake = fakeWithServices("db");
    const configured = config([target("db")]);

    const first = await sync(fake, configured);

    assert.equal(first.report.targets[0]?.error, undefined);
    assert.equal(first.report.targets[0]?.status, "synced");
    assert.deepEqual(first.writes, ["create configmaps shop/db-ees-memory", "create endpoints shop/db", "create endpointslices shop/db-ipv4-0"]);
    assert.equal(first.report.targets[0]?.writes, 3);
    const slice = fake.object("endpointslices", NAMESPACE, "db-ipv4-0");
    assert.deepEqual((slice?.endpoints as { addresses: string[] }[]).map((entry) => entry.addresses[0]), ADDRESSES);
    assert.deepEqual(eventsOf(fake, "db").map((event) => `${event.type} ${event.reason}`), ["Normal EndpointsChanged"]);

    const again = await sync(fake, configured);

    assert.equal(again.report.ok, true);
    assert.equal(again.report.targets[0]?.status, "unchanged");
    assert.deepEqual(again.writes, []);
    assert.equal(again.events, 0);
    assert.equal(again.report.targets[0]?.writes, 0);
  });

  it("a missing Service with createService: the Service first, then the rest, owned by the Service's uid", async () => {
    const fake = new FakeKube();

    const { report, writes } = await sync(fake, config([target("db", { createService: true })]));

    assert.equal(report.targets[0]?.status, "synced");
    assert.deepEqual(writes, ["create configmaps shop/db-ees-memory", "create endpoints shop/db", "create endpointslices shop/db-ipv4-0", "create services shop/db"]);
    assert.equal(fake.actions.findIndex((action) => action.verb === "create"), fake.actions.findIndex((action) => action.verb === "create" && action.resource === "services"));
    const uid = fake.object("services", NAMESPACE, "db")?.metadata?.uid;
    assert.equal(fake.object("endpointslices", NAMESPACE, "db-ipv4-0")?.metadata?.ownerReferences?.[0]?.uid, uid);
  });

  it("a dry run plans the same changes and writes nothing", async () => {
    const fake = fakeWithServices("db");

    const { report, writes, events } = await sync(fake, config([target("db")]), { dryRun: true });

    assert.equal(report.targets[0]?.status, "planned");
    assert.deepEqual(report.targets[0]?.changes.map((change) => `${change.action} ${change.kind} ${change.name}`), ["create EndpointSlice db-ipv4-0", "create Endpoints db", "create ConfigMap db-ees-memory"]);
    assert.deepEqual(writes, []);
    assert.equal(events, 0);
  });

  it("a failed source or a tripped guard makes the target and the run degraded, still ok; a failure wins over it", async () => {
    const fake = fakeWithServices("db", "ghost");
    const missing = { name: "list", file: { path: "/nonexistent/ees-backends.txt" } };
    const sources = (addresses: string[]) => [{ name: "vms", static: addresses.map((address) => ({ address })) }, missing];

    const { report, writes } = await sync(fake, config([target("db", { sources: sources(ADDRESSES) }), target("ghost", { service: "gone", sources: sources(ADDRESSES) })]));

    const [db, ghost] = report.targets;
    assert.equal(db?.status, "degraded");
    assert.deepEqual(db?.sources.map((source) => `${source.name} ${source.status}`), ["vms ok", "list failed"]);
    assert.equal(db?.writes, 3, "what the answering source found is still written");
    assert.ok(writes.includes("create endpointslices shop/db-ipv4-0"));
    assert.equal(ghost?.status, "failed", "a missing Service fails the target, failed source or not");
    assert.equal(report.ok, false);
    assert.equal(report.degraded, true);

    // Both published backends gone at once, one removal allowed per run: the guard keeps one.
    const held = await sync(fake, config([target("db", { sources: [{ name: "vms", static: [{ address: "192.0.2.12" }] }], guards: { maxRemovalsPerRun: 1 } })]));

    assert.deepEqual(held.report.targets[0]?.guards.map((trip) => trip.guard), ["maxRemovalsPerRun"]);
    assert.equal(held.report.targets[0]?.status, "degraded");
    assert.equal(held.report.ok, true);
    assert.equal(held.report.degraded, true);

    const clean = await sync(fake, config([target("db", { sources: [{ name: "vms", static: [{ address: "192.0.2.12" }] }] })]));
    assert.equal(clean.report.targets[0]?.status, "synced", "the guard let the kept one go: a clean run again");
    assert.equal(clean.report.degraded, false);
  });

  // Each test waits out one fast-detection interval (1 s, the least the config takes): they wait together.
  describe("fast detection", { concurrency: true }, () => {
    const fast = (targets: Record<string, unknown>[]) => config(targets, { fastDetection: { everySeconds: 1, forSeconds: 2 } });

    it("counts its rounds and merges their changes and writes", async () => {
      const fake = fakeWithServices("db");
      // After the first round has written, someone deletes our slice: the second round puts it back.
      fake.beforeNext("create", "events", (kube) => kube.remove("endpointslices", NAMESPACE, "db-ipv4-0"));

      const { report, writes } = await sync(fake, fast([target("db")]), { fastDetection: true });

      assert.equal(report.rounds, 2);
      assert.equal(fake.count("get", "services"), 2, "one read of the Service per round");
      const merged = report.targets[0]!;
      assert.equal(merged.status, "synced");
      assert.deepEqual(merged.changes.map((change) => `${change.action} ${change.kind} ${change.name}`), [
        "create EndpointSlice db-ipv4-0",
        "create Endpoints db",
        "create ConfigMap db-ees-memory",
        "create EndpointSlice db-ipv4-0",
      ]);
      assert.equal(merged.writes, 4);
      assert.equal(writes.filter((write) => write === "create endpointslices shop/db-ipv4-0").length, 2);
    });

    it("a round that failed keeps the merged report failed, with its error", async () => {
      const fake = fakeWithServices("db");
      fake.failNext("create", "configmaps", 500);

      const { report } = await sync(fake, fast([target("db")]), { fastDetection: true });

      assert.equal(report.rounds, 2);
      const merged = report.targets[0]!;
      assert.equal(merged.status, "failed");
      assert.match(merged.error ?? "", /create ConfigMap shop\/db-ees-memory: HTTP 500 an error injected by the test/);
      assert.equal(merged.writes, 5, "two writes and the failure noted in the memory in the first round; the memory and the note's removal in the second");
      assert.deepEqual(eventsOf(fake, "db").filter((event) => event.reason === "SyncFailed").length, 1);
      assert.ok(fake.object("configmaps", NAMESPACE, "db-ees-memory"), "the second round wrote the memory");
    });

    it("is degraded as the last round's sources and every round's guards show", async () => {
      const dir = await mkdtemp(join(tmpdir(), "ees-engine-"));
      const recovers = join(dir, "recovers.txt");
      const breaks = join(dir, "breaks.txt");
      await writeFile(breaks, "192.0.2.12\n");
      const withFile = (service: string, path: string) => target(service, { sources: [{ name: "vms", static: ADDRESSES.map((address) => ({ address })) }, { name: "list", file: { path } }] });
      const fake = fakeWithServices("db", "cache");
      // After the first round has written, one file appears and the other goes.
      fake.beforeNext("create", "events", () => {
        writeFileSync(recovers, "192.0.2.12\n");
        rmSync(breaks);
      });

      const { report } = await sync(fake, fast([withFile("db", recovers), withFile("cache", breaks)]), { fastDetection: true });

      assert.equal(report.rounds, 2);
      const [db, cache] = report.targets;
      assert.equal(db?.status, "synced", "its source failed in the first round only");
      assert.equal(cache?.status, "degraded");
      assert.deepEqual(cache?.guards.map((trip) => trip.guard), ["failedSource"], "what the list found is kept");
      assert.equal(report.degraded, true);
      await rm(dir, { recursive: true });
    });

    it("without the run asking for it, one round", async () => {
      const fake = fakeWithServices("db");

      const { report } = await sync(fake, fast([target("db")]));

      assert.equal(report.rounds, undefined);
      assert.equal(fake.count("get", "services"), 1);
    });
  });

  describe("pruning", () => {
    it("under policy sync, a target that left the config loses its slice, Endpoints and memory", async () => {
      const fake = fakeWithServices("db", "cache");
      await sync(fake, config([target("db"), target("cache")]));

      const { report, writes } = await sync(fake, config([target("db")]));

      assert.deepEqual(writes, ["delete configmaps shop/cache-ees-memory", "delete endpoints shop/cache", "delete endpointslices shop/cache-ipv4-0"]);
      assert.deepEqual(report.pruned.map((pruned) => pruned.changes.map((change) => `${change.action} ${change.kind} ${change.name}`)), [
        ["delete EndpointSlice cache-ipv4-0", "delete Endpoints cache", "delete ConfigMap cache-ees-memory"],
      ]);
      assert.ok(fake.object("endpointslices", NAMESPACE, "db-ipv4-0"), "the configured target keeps its slice");
      assert.ok(fake.object("services", NAMESPACE, "cache"), "the Service is the user's: it stays");
    });

    it("under upsert-only, nothing is listed or deleted", async () => {
      const fake = fakeWithServices("db", "cache");
      await sync(fake, config([target("db"), target("cache")]));
      const mark = fake.actions.length;

      const { report, writes } = await sync(fake, config([target("db")], { policy: "upsert-only" }));

      assert.deepEqual(writes, []);
      assert.deepEqual(report.pruned, []);
      assert.equal(fake.count("list", "endpointslices", mark), 1, "only the target's own read");
    });

    it("targets: [] deletes nothing, unless allowPruneAll", async () => {
      const fake = fakeWithServices("db");
      await sync(fake, config([target("db")]));

      const held = await sync(fake, config([]));

      assert.deepEqual(held.writes, []);
      assert.match(held.report.pruned[0]?.guard ?? "", /would delete all 2 objects this installation has here .* set allowPruneAll: true/);
      assert.deepEqual([held.report.ok, held.report.degraded], [true, true], "a guard held the deletions back");

      const allowed = await sync(fake, config([], { allowPruneAll: true }));
      assert.equal(allowed.report.degraded, false);

      assert.deepEqual(allowed.writes, ["delete configmaps shop/db-ees-memory", "delete endpoints shop/db", "delete endpointslices shop/db-ipv4-0"]);
    });

    it("never touches another installation's, cluster entry's or owner id's objects", async () => {
      const fake = fakeWithServices("db");
      await sync(fake, config([target("db")]));
      const others: Writer[] = [
        { ...WRITER, installation: "ees-staging" },
        { ...WRITER, cluster: "main-again" },
        { ...WRITER, ownerId: "team-b" },
      ];
      for (const [index, writer] of others.entries()) {
        const service = `gone-${index}`;
        fake.seed({ kind: "EndpointSlice", metadata: { name: `${service}-ipv4-0`, namespace: NAMESPACE, labels: sliceLabels(service, writer) }, addressType: "IPv4", endpoints: [] });
        fake.seed({ kind: "Endpoints", metadata: { name: service, namespace: NAMESPACE, labels: endpointsLabels(writer) } });
      }

      const { report, writes } = await sync(fake, config([target("db")]));

      assert.deepEqual(writes, []);
      assert.deepEqual(report.pruned, [{ cluster: "main", changes: [] }]);
      const writers = (resource: "endpointslices" | "endpoints") =>
        fake.objects(resource).map((object) => `${object.metadata?.labels?.[OWNER]} ${object.metadata?.labels?.[INSTALLATION]} ${object.metadata?.labels?.[CLUSTER_ENTRY]}`);
      const everyone = ["default default main", "default ees-staging main", "default default main-again", "team-b default main"];
      assert.deepEqual(writers("endpointslices"), everyone);
      assert.deepEqual(writers("endpoints"), everyone);
    });
  });

  it("a Service given a selector after we published: our slice and Endpoints go, with a Warning Event", async () => {
    const fake = fakeWithServices("db");
    await sync(fake, config([target("db")]));
    fake.edit("services", NAMESPACE, "db", (service) => {
      (service.spec as { selector?: Record<string, string> }).selector = { app: "db" };
    });

    const { report, writes } = await sync(fake, config([target("db")]));

    const refused = report.targets[0]!;
    assert.equal(refused.status, "failed");
    assert.match(refused.error ?? "", /Service shop\/db has a selector \(app=db\)/);
    assert.deepEqual(writes, ["delete endpoints shop/db", "delete endpointslices shop/db-ipv4-0"]);
    assert.ok(fake.object("configmaps", NAMESPACE, "db-ees-memory"), "the memory stays: it goes with its Service");
    const warning = eventsOf(fake, "db").find((event) => event.type === "Warning");
    assert.equal(warning?.reason, "ServiceChanged");
    assert.match(warning?.message ?? "", /deleting our 2 objects for it/);
  });

  it("a write that fails: a SyncFailed Warning Event when the failure starts or changes, none while it repeats", async () => {
    const fake = fakeWithServices("db");
    const configured = config([target("db")]);
    const syncFailed = () => eventsOf(fake, "db").filter((event) => event.reason === "SyncFailed");
    const failing = async (code: number) => {
      fake.failNext("create", "endpointslices", code);
      const { report } = await sync(fake, configured);
      assert.equal(report.targets[0]?.status, "failed");
      return report.targets[0]!;
    };

    const first = await failing(500);
    assert.deepEqual(syncFailed().map((event) => `${event.type} ${event.message}`), [`Warning ${first.error}`]);
    assert.match(first.error ?? "", /create EndpointSlice shop\/db-ipv4-0: HTTP 500/);
    assert.deepEqual(first.warnings, []);

    await failing(500);
    await failing(500);
    assert.equal(syncFailed().length, 1, "the same failure again raises no Event");

    const changed = await failing(403);
    assert.equal(syncFailed().length, 2);
    assert.equal(syncFailed()[1]?.message, changed.error);

    const healed = await sync(fake, configured);
    assert.equal(healed.report.targets[0]?.status, "synced");
    assert.equal(syncFailed().length, 2);

    fake.remove("endpointslices", NAMESPACE, "db-ipv4-0");
    await failing(403);
    assert.equal(syncFailed().length, 3, "after a success, the same failure is news again");
  });

  it("a target that fails before its writes (a CA file missing): one SyncFailed Warning Event, not one a run", async () => {
    const fake = fakeWithServices("db");
    const configured = config([target("db", { check: { https: { caFile: "/nonexistent/ees-test-ca.pem" } } })]);

    for (let run = 0; run < 3; run++) {
      const { report } = await sync(fake, configured);
      assert.equal(report.targets[0]?.status, "failed");
      assert.match(report.targets[0]?.error ?? "", /ees-test-ca\.pem/);
    }

    const events = eventsOf(fake, "db").map((event) => `${event.type} ${event.reason}`);
    assert.deepEqual(events, ["Warning SyncFailed"]);
    assert.deepEqual(fake.objects("endpointslices", { namespace: NAMESPACE }), [], "nothing published");
  });

  it("another installation's slice for the same Service: nothing written, a Warning Event names the conflict", async () => {
    const fake = fakeWithServices("db");
    const other = { ...WRITER, installation: "ees-staging" };
    fake.seed({ kind: "EndpointSlice", metadata: { name: "db-ipv4-0", namespace: NAMESPACE, labels: sliceLabels("db", other) }, addressType: "IPv4", endpoints: [] });

    const { report, writes } = await sync(fake, config([target("db")]));

    assert.equal(report.targets[0]?.status, "failed");
    assert.match(report.targets[0]?.error ?? "", /is synced by another writer: EndpointSlice db-ipv4-0 \(external-endpoint-syncer \(installation ees-staging/);
    assert.deepEqual(writes, []);
    assert.deepEqual(eventsOf(fake, "db").map((event) => `${event.type} ${event.reason}`), ["Warning OwnershipConflict"]);
  });
});

describe("planPrune", () => {
  const writer = { ownerId: "default", installation: "ees-prod", cluster: "main" };
  const labels = { "app.kubernetes.io/managed-by": "external-endpoint-syncer", "external-endpoint-syncer/owner": "default", "external-endpoint-syncer/installation": "ees-prod", "external-endpoint-syncer/cluster": "main" };
  const slice = (service: string, extra: Record<string, string> = {}) => ({ addressType: "IPv4", endpoints: [], metadata: { namespace: "shop", name: `${service}-ipv4-0`, labels: { ...labels, ...extra, "kubernetes.io/service-name": service } } });

  it("checks the labels of what the list returned again: a server that ignores the selector gets nothing of another writer's deleted", () => {
    const plan = planPrune({
      writer,
      slices: [slice("gone"), slice("theirs", { "external-endpoint-syncer/installation": "ees-dev" }), slice("kept")],
      endpoints: [],
      configured: new Set(["shop/kept"]),
      allowAll: false,
    });
    assert.deepEqual(plan.changes.map((change) => change.object.metadata?.name), ["gone-ipv4-0"]);
    assert.deepEqual(plan.services, ["shop/gone"]);
  });

  it("counts only this writer's objects towards deleting all: another writer's returned by mistake do not lift the guard", () => {
    const plan = planPrune({ writer, slices: [slice("gone"), slice("theirs", { "external-endpoint-syncer/cluster": "other" })], endpoints: [], configured: new Set(), allowAll: false });
    assert.deepEqual(plan.changes, []);
    assert.match(plan.guard ?? "", /would delete all 1 objects/);
  });
});

describe("one clock per round", () => {
  it("stamps every target of a round with the round's start, however long the writes before it took", async () => {
    const fake = fakeWithServices("first", "second");
    // The second target's writes wait behind a slow first one: a clock read at write time would differ.
    fake.beforeNext("create", "endpointslices", () => {
      const until = Date.now() + 20;
      while (Date.now() < until);
    });

    const { report } = await sync(fake, config([target("first"), target("second")]));

    assert.ok(report.ok, JSON.stringify(report.targets.map((result) => result.error)));
    const stamps = ["first", "second"].map((service) => (fake.object("endpointslices", NAMESPACE, `${service}-ipv4-0`)?.metadata as { annotations?: Record<string, string> }).annotations?.["external-endpoint-syncer/last-sync"]);
    assert.ok(stamps[0] !== undefined);
    assert.equal(stamps[0], stamps[1]);
  });
});
