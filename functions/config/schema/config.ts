// The whole config, and the rules across its parts (unique names, known clusters, one target per Service).
import * as z from "zod";
import { clusterSchema } from "./clusters.ts";
import { ipAddress, LABEL_VALUE, port, timeoutMs } from "./common.ts";
import { targetSchema } from "./target.ts";

/** Also read alone: serverless.yml derives the sync function's schedule from it (infra/lambda.ts). */
export const syncIntervalSchema = z
  .int()
  .min(1)
  .max(86_400)
  .default(60)
  .describe("How often the schedule runs (on Lambda, whole minutes: serverless.yml derives the schedule from it): health state older than 3 intervals restarts its streaks.");

/** Also read alone: serverless.yml's alarms query the metrics at this level (infra/alarms.cjs). */
export const metricsSchema = z
  .enum(["target", "cluster"], { error: "expected target or cluster" })
  .default("target")
  .describe(
    "The metrics' dimensions: target, a set per target per run; cluster, one per cluster per run (sums, and the longest SyncDuration), for a bill that grows with clusters instead of targets (docs/scaling.md).",
  );

export const configSchema = z
  .strictObject({
    ownerId: z.string().regex(LABEL_VALUE, { error: "expected a label value" }).min(1).max(63).default("default").describe("Told apart from other installations writing to the same cluster."),
    policy: z.enum(["sync", "upsert-only"], { error: "expected sync or upsert-only" }).default("sync").describe("sync deletes what we wrote for targets that left the config; upsert-only leaves it."),
    checkConcurrency: z.int().min(1).max(10_000).default(900).describe("Probes in flight at once, across all targets. Each holds a socket, and a Lambda process has 1,024 file descriptors."),
    syncIntervalSeconds: syncIntervalSchema,
    metrics: metricsSchema,
    fastDetection: z
      .strictObject({
        everySeconds: z.int().min(1).max(600).default(5).describe("Seconds between rounds of checks within one invocation."),
        forSeconds: z.int().min(1).max(3600).default(50).describe("Seconds after the invocation starts during which rounds go on; less than syncIntervalSeconds."),
      })
      .superRefine(({ everySeconds, forSeconds }, ctx) => {
        // At or past forSeconds there is no second round: the schedule alone would check.
        if (everySeconds >= forSeconds) ctx.addIssue({ code: "custom", path: ["everySeconds"], input: everySeconds, message: `expected less than forSeconds (${forSeconds})` });
      })
      .optional()
      .describe("Re-check and write on change every `everySeconds` for `forSeconds` within one invocation."),
    selfCheck: z
      .strictObject({
        minBackends: z.int().min(1).max(100_000).default(4).describe("Probed backends, across at least two targets, that must all go unanswered at once."),
        canary: z
          .strictObject({
            address: ipAddress.describe("The canary's IP address."),
            port: port.describe("The canary's TCP port."),
            timeoutMs: timeoutMs.default(2000).describe("How long a connection to the canary may take."),
          })
          .optional()
          .describe("An address that always answers TCP (refusing counts): when it goes unanswered, the checker is cut off."),
      })
      .default({ minBackends: 4 })
      .describe("When the checker counts as cut off from the network, so that no target is written from its silence."),
    dispatch: z
      .strictObject({
        maxTargetsPerShard: z.int().min(1).max(1_000).default(100).describe("Targets one worker invocation syncs at most."),
        maxCostPerShard: z.int().min(1).max(1_000_000).default(20_000).describe("A shard's cost at most: the sum over its targets of backends × probe seconds (docs/architecture.md, Scaling out)."),
        assumedBackends: z.int().min(1).max(100_000).default(10).describe("Backends counted for a source whose size only discovery knows (all but static)."),
        workersPerCluster: z
          .int()
          .min(1)
          .max(100)
          .default(10)
          .describe("Workers syncing one cluster at once, at most: its targets go to this many FIFO message groups by their name, so two ticks never sync one target at once."),
      })
      .default({ maxTargetsPerShard: 100, maxCostPerShard: 20_000, assumedBackends: 10, workersPerCluster: 10 })
      .describe("On Lambda, a config past these bounds is split into shards, each synced by a worker fed by an SQS queue."),
    allowPruneAll: z.boolean().default(false).describe("Under policy sync, pruning may delete every object this installation has in a cluster: only when set."),
    clusters: z.array(clusterSchema).min(1, { error: "expected at least one cluster" }).describe("The clusters written to, each named for targets to refer to."),
    targets: z.array(targetSchema).describe("The Services whose endpoints are kept in step with their sources."),
  })
  // Runs even when other parts are invalid, so one report lists every problem.
  // Not for input that is no object at all (an empty file parses to null): that has its one problem already.
  .superRefine((config, ctx) => checkReferences(config, ctx), {
    when: (payload) => typeof payload.value === "object" && payload.value !== null && !Array.isArray(payload.value),
  });

type Loose = Record<string, unknown>;
const records = (value: unknown): Loose[] =>
  Array.isArray(value) ? value.filter((item): item is Loose => typeof item === "object" && item !== null) : [];

/** Cross-references: unique names, known clusters, one target per Service, named ports. */
function checkReferences(config: Loose, ctx: z.RefinementCtx) {
  // An invocation still re-checking when the next one starts would race it for the same objects.
  const fast = config.fastDetection as Loose | undefined;
  const interval = typeof config.syncIntervalSeconds === "number" ? config.syncIntervalSeconds : 60;
  if (typeof fast?.forSeconds === "number" && fast.forSeconds >= interval) {
    ctx.addIssue({ code: "custom", path: ["fastDetection", "forSeconds"], input: fast.forSeconds, message: `expected less than syncIntervalSeconds (${interval})` });
  }
  const clusterNames = new Set<unknown>();
  records(config.clusters).forEach((cluster, index) => {
    if (clusterNames.has(cluster.name)) ctx.addIssue({ code: "custom", path: ["clusters", index, "name"], input: cluster.name, message: "duplicate cluster name" });
    clusterNames.add(cluster.name);
  });
  const targetNames = new Set<unknown>();
  const services = new Map<string, unknown>();
  records(config.targets).forEach((target, index) => {
    const at = (...path: (string | number)[]) => ["targets", index, ...path];
    if (targetNames.has(target.name)) ctx.addIssue({ code: "custom", path: at("name"), input: target.name, message: "duplicate target name" });
    targetNames.add(target.name);
    if (typeof target.cluster === "string" && !clusterNames.has(target.cluster)) {
      const known = [...clusterNames].filter((name) => typeof name === "string").join(", ") || "none";
      ctx.addIssue({ code: "custom", path: at("cluster"), input: target.cluster, message: `no cluster by this name (have: ${known})` });
    }
    const service = `${String(target.cluster)}/${String(target.namespace)}/${String(target.service)}`;
    if (services.has(service)) ctx.addIssue({ code: "custom", path: at("service"), input: target.service, message: `already synced by target ${String(services.get(service))}` });
    services.set(service, target.name);
    const ports = records(target.ports);
    const portNames = new Set<unknown>();
    ports.forEach((entry, portIndex) => {
      if (ports.length > 1 && entry.name === undefined) {
        ctx.addIssue({ code: "custom", path: at("ports", portIndex, "name"), message: "required when a target has more than one port" });
      }
      if (entry.name !== undefined && portNames.has(entry.name)) {
        ctx.addIssue({ code: "custom", path: at("ports", portIndex, "name"), input: entry.name, message: "duplicate port name" });
      }
      portNames.add(entry.name);
    });
    // A backend's own port replaces the target's port; with several ports there is no saying which.
    records(target.sources).forEach((source, sourceIndex) => {
      const ec2 = typeof source.ec2 === "object" && source.ec2 !== null ? (source.ec2 as Loose) : {};
      const dns = typeof source.dns === "object" && source.dns !== null ? (source.dns as Loose) : {};
      const own = ec2.port !== undefined ? ["ec2", "port"] : ec2.portTag !== undefined ? ["ec2", "portTag"] : Array.isArray(dns.types) && dns.types.includes("SRV") ? ["dns", "types"] : undefined;
      if (own && ports.length !== 1) {
        ctx.addIssue({
          code: "custom",
          path: at("sources", sourceIndex, ...own),
          message: `a port of each backend's own needs a target with exactly one port, and this one has ${ports.length}`,
        });
      }
    });
  });
}

export type Config = z.output<typeof configSchema>;
