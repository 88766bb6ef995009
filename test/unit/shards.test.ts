// The shard plan (functions/dispatch/shards.ts), table-driven: no cluster shares a shard, each shard stays
// within maxTargetsPerShard and maxCostPerShard, a target past the cost bound has a shard alone, the plan is
// the same for the same config, and a config that fits one shard is not dispatched.
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
    { name: "a small config: one shard", targets: [{ cluster: "a" }, { cluster: "a" }], shards: ["a/0:t0,t1"] },
    {
      name: "never two clusters in one shard, in config order per cluster",
      targets: [{ cluster: "a" }, { cluster: "b" }, { cluster: "a" }],
      shards: ["a/0:t0,t2", "b/0:t1"],
    },
    {
      name: "maxTargetsPerShard",
      targets: [{ cluster: "a" }, { cluster: "a" }, { cluster: "a" }, { cluster: "a" }, { cluster: "a" }],
      dispatch: { maxTargetsPerShard: 2 },
      shards: ["a/0:t0,t1", "a/1:t2,t3", "a/2:t4"],
    },
    {
      // 100 backends × 4.3 s = 430 each: two fit under 1,000, a third does not.
      name: "maxCostPerShard",
      targets: [{ cluster: "a", backends: 100 }, { cluster: "a", backends: 100 }, { cluster: "a", backends: 100 }],
      dispatch: { maxCostPerShard: 1000 },
      shards: ["a/0:t0,t1", "a/1:t2"],
    },
    {
      name: "a target past the cost bound has a shard of its own",
      targets: [{ cluster: "a", backends: 1 }, { cluster: "a", backends: 1000 }, { cluster: "a", backends: 1 }],
      dispatch: { maxCostPerShard: 1000 },
      shards: ["a/0:t0", "a/1:t1", "a/2:t2"],
    },
  ];
  for (const { name, targets, dispatch, shards } of cases) {
    it(name, () => {
      const input = config(targets, dispatch);
      const plan = planShards(input);
      assert.deepEqual(layout(plan), shards);
      assert.deepEqual(layout(planShards(input)), shards, "the same plan again");
      assert.deepEqual(plan.flatMap((shard) => shard.targets).sort(), input.targets.map((target) => target.name).sort(), "every target exactly once");
      assert.equal(needsDispatch(plan), shards.length > 1);
    });
  }

  it("10 clusters × 1,000 targets of 10 backends: 10 shards per cluster at the defaults, each within both bounds", () => {
    const input = config(Array.from({ length: 10_000 }, (_, index) => ({ cluster: `c${index % 10}`, backends: 10 })));
    const plan = planShards(input);
    assert.equal(plan.length, 100);
    for (const shard of plan) {
      assert.ok(shard.targets.length <= input.dispatch.maxTargetsPerShard && shard.cost <= input.dispatch.maxCostPerShard, shard.id);
    }
  });
});
