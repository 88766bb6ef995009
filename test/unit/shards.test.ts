// The shard plan (functions/dispatch/shards.ts), table-driven: no cluster shares a shard, each shard stays
// within maxTargetsPerShard and maxCostPerShard, a target past the cost bound has a shard alone, the plan is
// the same for the same config, a target's message group survives config changes, and a config that fits one
// shard is not dispatched, however many clusters it names.
//
// Costs: `static` entries are counted, other sources count as assumedBackends; each backend costs the worst
// probing time of its target (the default TCP check: 2 × 2 s + 1.5 × 0.2 s = 4.3 s).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { needsDispatch, planShards, targetCost } from "../../functions/dispatch/shards.ts";
import { testConfig } from "../harness/cluster.ts";

const staticOf = (count: number) => ({ static: Array.from({ length: count }, (_, index) => ({ address: `192.0.2.${index % 250}` })) });

function config(targets: { cluster: string; backends?: number; dns?: boolean; check?: unknown }[], dispatch: Record<string, number> = {}) {
  const clusters = [...new Set(targets.map((target) => target.cluster))].map((name) => ({ name, kubeconfigData: "apiVersion: v1" }));
  return testConfig({
    dispatch,
    clusters: clusters.length > 0 ? clusters : [{ name: "a", kubeconfigData: "apiVersion: v1" }],
    targets: targets.map((target, index) => ({
      name: `t${index}`,
      cluster: target.cluster,
      namespace: "ns",
      service: `s${index}`,
      ports: [{ port: 80 }],
      sources: [target.dns ? { dns: { name: "db.example.com" } } : staticOf(target.backends ?? 1)],
      ...(target.check !== undefined && { check: target.check }),
    })),
  });
}

const layout = (shards: ReturnType<typeof planShards>) => shards.map((shard) => `${shard.id}:${shard.targets.join(",")}`);

describe("targetCost", () => {
  const cases: [string, Parameters<typeof config>[0][number], number][] = [
    ["10 static backends, default TCP check", { cluster: "a", backends: 10 }, 43],
    ["a DNS source counts as assumedBackends (10)", { cluster: "a", dns: true }, 43],
    ["a 1 s TCP check: 2 × 1 s + 1.5 × 0.2 s re-check per backend", { cluster: "a", backends: 4, check: { tcp: { timeoutMs: 1000 } } }, 4 * 2.3],
  ];
  for (const [name, target, cost] of cases) {
    it(name, () => {
      const { targets, dispatch } = config([target]);
      assert.equal(Math.round(targetCost(targets[0]!, dispatch.assumedBackends) * 10) / 10, Math.round(cost * 10) / 10);
    });
  }
});

describe("planShards", () => {
  const cases: { name: string; targets: Parameters<typeof config>[0]; dispatch?: Record<string, number>; shards: string[] }[] = [
    { name: "no targets: no shards", targets: [], shards: [] },
    { name: "a small config: one shard", targets: [{ cluster: "a" }, { cluster: "a" }], shards: ["a/0/0:t0,t1"] },
    {
      name: "never two clusters in one shard, in config order per cluster",
      targets: [{ cluster: "a" }, { cluster: "b" }, { cluster: "a" }],
      shards: ["a/0/0:t0,t2", "b/0/0:t1"],
    },
    {
      name: "maxTargetsPerShard",
      targets: [{ cluster: "a" }, { cluster: "a" }, { cluster: "a" }, { cluster: "a" }, { cluster: "a" }],
      dispatch: { maxTargetsPerShard: 2 },
      shards: ["a/0/0:t0,t1", "a/0/1:t2,t3", "a/0/2:t4"],
    },
    {
      // 100 backends × 4.3 s = 430 each: two fit under 1,000, a third does not.
      name: "maxCostPerShard",
      targets: [{ cluster: "a", backends: 100 }, { cluster: "a", backends: 100 }, { cluster: "a", backends: 100 }],
      dispatch: { maxCostPerShard: 1000 },
      shards: ["a/0/0:t0,t1", "a/0/1:t2"],
    },
    {
      name: "a target past the cost bound has a shard of its own",
      targets: [{ cluster: "a", backends: 1 }, { cluster: "a", backends: 1000 }, { cluster: "a", backends: 1 }],
      dispatch: { maxCostPerShard: 1000 },
      shards: ["a/0/0:t0", "a/0/1:t1", "a/0/2:t2"],
    },
  ];
  for (const { name, targets, dispatch, shards } of cases) {
    it(`${name} (one lane per cluster)`, () => {
      const input = config(targets, { workersPerCluster: 1, ...dispatch });
      const plan = planShards(input);
      assert.deepEqual(layout(plan), shards);
      assert.deepEqual(layout(planShards(input)), shards, "the same plan again");
      assert.deepEqual(plan.flatMap((shard) => shard.targets).sort(), input.targets.map((target) => target.name).sort(), "every target exactly once");
    });
  }

  it("10 clusters × 1,000 targets of 10 backends at the defaults: 10 lanes per cluster, each shard within both bounds", () => {
    const input = config(Array.from({ length: 10_000 }, (_, index) => ({ cluster: `c${index % 10}`, backends: 10 })));
    const plan = planShards(input);
    const groups = new Set(plan.map((shard) => shard.group));
    assert.equal(groups.size, 100);
    for (const cluster of ["c0", "c9"]) assert.equal([...groups].filter((group) => group.startsWith(`${cluster}/`)).length, 10);
    for (const shard of plan) {
      assert.ok(shard.targets.length <= input.dispatch.maxTargetsPerShard && shard.cost <= input.dispatch.maxCostPerShard, shard.id);
      assert.ok(shard.id.startsWith(`${shard.group}/`) && shard.group.startsWith(`${shard.cluster}/`), shard.id);
    }
    // About 100 targets a lane: mostly one shard each, a second for the lanes the hash filled past 100.
    assert.ok(plan.length >= 100 && plan.length <= 200, `${plan.length} shards`);
  });

  it("keeps each target in its message group when other targets come and go", () => {
    const targets = Array.from({ length: 300 }, (_, index) => ({ cluster: index % 2 === 0 ? "a" : "b" }));
    const groupOf = (plan: ReturnType<typeof planShards>) => new Map(plan.flatMap((shard) => shard.targets.map((target) => [target, shard.group] as const)));
    const all = groupOf(planShards(config(targets)));
    // Rename every third target out of the config: the others' names, and so their groups, stay.
    const fewer = config(targets);
    fewer.targets = fewer.targets.filter((_target, index) => index % 3 !== 0);
    for (const [target, group] of groupOf(planShards(fewer))) assert.equal(group, all.get(target), target);
    assert.equal(new Set(all.values()).size, 20, "10 lanes in each of the 2 clusters");
  });
});

describe("needsDispatch", () => {
  it("only when the whole config is past a bound of one shard, however many clusters it names", () => {
    const few = Array.from({ length: 30 }, (_, index) => ({ cluster: `c${index % 3}`, backends: 10 }));
    assert.equal(needsDispatch(config(few)), false, "30 targets in 3 clusters: one invocation, as before");
    assert.equal(needsDispatch(config(few, { maxTargetsPerShard: 29 })), true, "past maxTargetsPerShard");
    assert.equal(needsDispatch(config(few, { maxCostPerShard: 1000 })), true, "30 × 43 past maxCostPerShard");
  });
});
