// The shard plan: which targets one worker invocation syncs. Pure, and the same for the same config, so a
// shard's id names the same targets every tick (docs/architecture.md, Scaling out).
import type { Config, TargetConfig } from "../config/schema.ts";
import { worstProbeMs } from "../config/schema/target.ts";

export interface Shard {
  /** `cluster/index`: stable for a config, unique within it. */
  id: string;
  cluster: string;
  targets: string[];
  /** Backends × probe seconds, summed over the targets (an estimate: see targetCost). */
  cost: number;
}

/**
 * A target's cost: its backends × the seconds one backend's probing can take. Static entries are counted
 * (a hostname as one); any other source counts as `assumedBackends`, since only discovery knows its size.
 */
export function targetCost(target: TargetConfig, assumedBackends: number): number {
  const backends = target.sources.reduce((sum, source) => sum + (source.static ? source.static.length : assumedBackends), 0);
  return backends * (worstProbeMs(target).ms / 1000);
}

/**
 * Never two clusters in one shard; within a cluster, targets in config order fill a shard until the next would
 * pass maxTargetsPerShard or maxCostPerShard. A target costing more than the bound alone gets a shard of its own.
 */
export function planShards(config: Pick<Config, "targets" | "dispatch">): Shard[] {
  const { maxTargetsPerShard, maxCostPerShard, assumedBackends } = config.dispatch;
  const shards: Shard[] = [];
  const open = new Map<string, Shard>();
  const counts = new Map<string, number>();
  for (const target of config.targets) {
    const cost = targetCost(target, assumedBackends);
    let shard = open.get(target.cluster);
    if (!shard || shard.targets.length >= maxTargetsPerShard || shard.cost + cost > maxCostPerShard) {
      const index = counts.get(target.cluster) ?? 0;
      counts.set(target.cluster, index + 1);
      shard = { id: `${target.cluster}/${index}`, cluster: target.cluster, targets: [], cost: 0 };
      shards.push(shard);
      open.set(target.cluster, shard);
    }
    shard.targets.push(target.name);
    shard.cost += cost;
  }
  return shards;
}

/** Whether the scheduled function hands the config to workers: when it does not fit in one shard. */
export function needsDispatch(shards: readonly Shard[]): boolean {
  return shards.length > 1;
}
