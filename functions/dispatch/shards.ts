// The shard plan: which targets one worker invocation syncs. Pure, and the same for the same config; a target's
// message group depends on its name alone, so no config change but workersPerCluster moves it to another
// (docs/architecture.md, Scaling out).
import { createHash } from "node:crypto";
import type { Config, TargetConfig } from "../config/schema.ts";
import { worstProbeMs } from "../config/schema/target.ts";

export interface Shard {
  /** `group/index`: stable for a config, unique within it. */
  id: string;
  /** The FIFO message group, `cluster/lane`: SQS hands out one of its messages at a time. */
  group: string;
  cluster: string;
  targets: string[];
  /** Backends × probe seconds, summed over the targets (an estimate: see targetCost). */
  cost: number;
}

type DispatchInput = Pick<Config, "targets" | "dispatch">;

/**
 * A target's cost: its backends × the seconds one backend's probing can take. Static entries are counted
 * (a hostname as one); any other source counts as `assumedBackends`, since only discovery knows its size.
 */
export function targetCost(target: TargetConfig, assumedBackends: number): number {
  const backends = target.sources.reduce((sum, source) => sum + (source.static ? source.static.length : assumedBackends), 0);
  return backends * (worstProbeMs(target).ms / 1000);
}

/** Whether the scheduled function hands the config to workers: when the whole of it is past a bound of one shard. */
export function needsDispatch(config: DispatchInput): boolean {
  const { maxTargetsPerShard, maxCostPerShard, assumedBackends } = config.dispatch;
  const cost = config.targets.reduce((sum, target) => sum + targetCost(target, assumedBackends), 0);
  return config.targets.length > maxTargetsPerShard || cost > maxCostPerShard;
}

/**
 * Each cluster's targets go to `workersPerCluster` lanes by a hash of their name; within a lane, targets in config
 * order fill a shard until the next would pass maxTargetsPerShard or maxCostPerShard. A target costing more than
 * the bound alone gets a shard of its own. Never two clusters, nor two lanes, in one shard.
 */
export function planShards(config: DispatchInput): Shard[] {
  const { maxTargetsPerShard, maxCostPerShard, assumedBackends, workersPerCluster } = config.dispatch;
  const shards: Shard[] = [];
  const open = new Map<string, Shard>();
  const counts = new Map<string, number>();
  for (const target of config.targets) {
    const cost = targetCost(target, assumedBackends);
    const group = `${target.cluster}/${laneOf(target.name, workersPerCluster)}`;
    let shard = open.get(group);
    if (!shard || shard.targets.length >= maxTargetsPerShard || shard.cost + cost > maxCostPerShard) {
      const index = counts.get(group) ?? 0;
      counts.set(group, index + 1);
      shard = { id: `${group}/${index}`, group, cluster: target.cluster, targets: [], cost: 0 };
      shards.push(shard);
      open.set(group, shard);
    }
    shard.targets.push(target.name);
    shard.cost += cost;
  }
  return shards;
}

function laneOf(target: string, lanes: number): number {
  return createHash("sha256").update(target).digest().readUInt32BE(0) % lanes;
}
