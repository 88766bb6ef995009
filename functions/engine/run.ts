import pLimit from "p-limit";
import type { Config } from "../config/schema.ts";
import { probeLimiter } from "../health/check.ts";
import type { ClusterConnections } from "../kube/client.ts";
import type { RunReport } from "../report/report.ts";
import { pruneCluster } from "./prune.ts";
import { syncTarget } from "./sync-target.ts";

/** How many targets sync at once; probes share their own, larger limit. */
const TARGET_CONCURRENCY = 4;

export interface RunOptions {
  /** Only these targets; also skips pruning, which needs the whole config. */
  targets?: string[];
  dryRun?: boolean;
  signal?: AbortSignal;
}

/** Names in a request that no target has. */
export class UnknownTargetError extends Error {
  readonly names: string[];
  constructor(names: string[]) {
    super(`no target named ${names.map((name) => JSON.stringify(name)).join(", ")}`);
    this.name = "UnknownTargetError";
    this.names = names;
  }
}

/** One run: every selected target, then (under policy sync) the removal of what left the config. */
export async function runSync(config: Config, connections: ClusterConnections, options: RunOptions = {}): Promise<RunReport> {
  const started = performance.now();
  const dryRun = options.dryRun ?? false;
  const signal = options.signal ?? new AbortController().signal;
  const known = new Set(config.targets.map((target) => target.name));
  const unknown = (options.targets ?? []).filter((name) => !known.has(name));
  if (unknown.length > 0) throw new UnknownTargetError(unknown);
  const selected = options.targets ? config.targets.filter((target) => options.targets!.includes(target.name)) : config.targets;

  const probeLimit = probeLimiter(config.checkConcurrency);
  const targetLimit = pLimit(TARGET_CONCURRENCY);
  const targets = await Promise.all(
    selected.map((target) =>
      targetLimit(() =>
        syncTarget(target, { clients: () => connections.get(target.cluster), ownerId: config.ownerId, dryRun, probeLimit, signal }),
      ),
    ),
  );

  const pruned =
    options.targets === undefined && config.policy === "sync"
      ? await Promise.all(
          config.clusters.map(async (cluster) => {
            const targets = config.targets.filter((target) => target.cluster === cluster.name);
            const services = new Set(targets.map((target) => `${target.namespace}/${target.service}`));
            const namespaces = new Set(targets.map((target) => target.namespace));
            try {
              return await pruneCluster(await connections.get(cluster.name), config.ownerId, services, namespaces, dryRun);
            } catch (error) {
              return { cluster: cluster.name, changes: [], error: error instanceof Error ? error.message : String(error) };
            }
          }),
        )
      : [];

  return {
    ok: targets.every((target) => target.status !== "failed") && pruned.every((report) => report.error === undefined),
    dryRun,
    targets,
    pruned,
    durationMs: Math.round(performance.now() - started),
  };
}
