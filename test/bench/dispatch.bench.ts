// Issue 15's simulation: the dispatcher and its workers over the real parts, 10 clusters × 200 targets (npm run
// bench: it measures and prints, it asserts nothing). The functions run under serverless offline, the queue is
// moto's SQS (test/harness/dispatch.ts: pollers stand in for Lambda's event source mapping, as many as the worker's
// reserved concurrency); each cluster is a real kube-apiserver, all of them on one etcd under prefixes of their
// own; the targets' tcp checks reach real listeners in a network namespace. The config is the defaults' (shards of
// at most 100 targets, 10 lanes per cluster, policy sync). Per tick: the time from the tick to every target synced,
// the dispatcher's own time, worker invocations and their wall times (summed: the billed time), redeliveries (receives > 1), the most
// workers at once on one API server, and the syncer's requests and writes. The first tick writes every target;
// the second finds nothing to write (the steady state).
//   DISPATCH_BENCH_CLUSTERS=10   clusters (API servers)
//   DISPATCH_BENCH_TARGETS=200   targets per cluster
//   DISPATCH_BENCH_POLLERS=10    workers at once (serverless.yml's workerConcurrency)
//   DISPATCH_BENCH_CHECK=tcp     the targets' check: tcp against the listeners, or none
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pLimit from "p-limit";
import { needsDispatch, planShards } from "../../functions/dispatch/shards.ts";
import { startSharedEtcd } from "../../infra/control-plane/local-cluster.ts";
import { createTestNetwork } from "../../infra/netns/test-network.ts";
import { MAX_RECEIVE_COUNT } from "../../infra/resources.ts";
import { selectorlessService, startTestCluster, testConfig, type TestCluster } from "../harness/cluster.ts";
import { auditMarks, startDispatch, syncerRequestsSince, type Run } from "../harness/dispatch.ts";

const NAMESPACE = "ees-dispatch-bench";
const PORT = 9000;
const CLUSTERS = positive("DISPATCH_BENCH_CLUSTERS", 10);
const TARGETS = positive("DISPATCH_BENCH_TARGETS", 200);
const POLLERS = positive("DISPATCH_BENCH_POLLERS", 10);
const CHECK = process.env.DISPATCH_BENCH_CHECK ?? "tcp";
if (CHECK !== "tcp" && CHECK !== "none") throw new Error(`DISPATCH_BENCH_CHECK: expected tcp or none, not ${JSON.stringify(CHECK)}`);
/** As infra/resources.ts sets the queue: 3 worker timeouts of 60 s, so a shard comes back only after a worker died. */
const VISIBILITY_SECONDS = 180;
/** A handful of listeners the targets share, two each. */
const BACKENDS = Array.from({ length: 8 }, (_, index) => `198.18.188.${10 + index}`);
/** Control planes started at once: more only crowd the two cores, and an API server has 60 s to become ready. */
const STARTING_AT_ONCE = 2;

function positive(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name}: expected a positive integer, not ${JSON.stringify(process.env[name])}`);
  return value;
}

const work = await mkdtemp(path.join(os.tmpdir(), "ees-dispatch-bench-"));
const cleanups: (() => Promise<unknown>)[] = [() => rm(work, { recursive: true, force: true })];
try {
  const clusterNames = Array.from({ length: CLUSTERS }, (_, index) => `c${index}`);
  const services = Array.from({ length: TARGETS }, (_, index) => `t${String(index).padStart(3, "0")}`);
  let started = performance.now();
  const etcd = await startSharedEtcd();
  cleanups.push(() => etcd.stop());
  const starting = pLimit(STARTING_AT_ONCE);
  const clusters = new Map<string, TestCluster>();
  await Promise.all(
    clusterNames.map((name) =>
      starting(async () => {
        const cluster = await startTestCluster([NAMESPACE], { etcd: { shared: etcd, prefix: `/registry-${name}` } });
        // Before the shared etcd: cleanups run in reverse.
        cleanups.push(() => cluster.stop());
        clusters.set(name, cluster);
      }),
    ),
  );
  const creating = pLimit(20);
  await Promise.all(
    [...clusters.values()].flatMap((cluster) =>
      services.map((service) => creating(() => cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, service, [{ port: PORT }]) }))),
    ),
  );
  console.log(`${CLUSTERS} API servers on one etcd, ${CLUSTERS * TARGETS} Services: ${seconds(performance.now() - started)}`);

  if (CHECK === "tcp") {
    const network = await createTestNetwork({ name: "ees-dsim", subnetIndex: 188 });
    cleanups.push(() => network.destroy());
    await network.addAddresses(BACKENDS);
    const fleet = await network.startBackends();
    cleanups.push(() => fleet.stop());
    for (const address of BACKENDS) await fleet.listen(address, PORT, { kind: "tcp" });
  }

  const input = {
    clusters: clusterNames.map((name) => ({ name, kubeconfig: clusters.get(name)!.kubeconfig })),
    targets: clusterNames.flatMap((cluster) =>
      services.map((service, index) => ({
        name: `${cluster}-${service}`,
        cluster,
        namespace: NAMESPACE,
        service,
        ports: [{ port: PORT }],
        sources: [{ static: [BACKENDS[index % BACKENDS.length]!, BACKENDS[(index + 1) % BACKENDS.length]!].map((address) => ({ address })) }],
        check: CHECK === "tcp" ? { tcp: {} } : { none: {} },
      })),
    ),
  };
  const config = testConfig(input);
  if (!needsDispatch(config)) throw new Error(`${config.targets.length} targets fit one shard (maxTargetsPerShard ${config.dispatch.maxTargetsPerShard}): the scheduled function would sync them itself; raise DISPATCH_BENCH_CLUSTERS or DISPATCH_BENCH_TARGETS`);
  const shards = planShards(config);
  for (const [name, cluster] of clusters) await cluster.grant(config, name);
  const configFile = path.join(work, "config.json");
  await writeFile(configFile, JSON.stringify(input));
  started = performance.now();
  const dispatch = await startDispatch({ configFile, visibilitySeconds: VISIBILITY_SECONDS, maxReceives: MAX_RECEIVE_COUNT });
  cleanups.push(() => dispatch.stop());
  console.log(`serverless offline up: ${seconds(performance.now() - started)}`);

  const sizes = shards.map((shard) => shard.targets.length);
  console.log(
    `\nDispatch over the real parts: Node ${process.version}, ${os.cpus().length} CPUs, ${Math.round(os.totalmem() / 2 ** 30)} GB, load ${loadavg()}\n` +
      `${CLUSTERS} clusters × ${TARGETS} targets (${CHECK} check, 2 backends each), ${config.dispatch.workersPerCluster} lanes per cluster, at most ${config.dispatch.maxTargetsPerShard} targets a shard: ` +
      `${shards.length} shards of ${Math.min(...sizes)}-${Math.max(...sizes)} targets; ${POLLERS} pollers`,
  );

  // Ticks timed now, as EventBridge would: the worker drops the shards of a tick three intervals old.
  const now = Math.floor(Date.now() / 60_000) * 60_000;
  for (const [label, time] of [
    ["first tick (every target written)", new Date(now).toISOString()],
    ["second tick (steady: nothing to write)", new Date(now + 60_000).toISOString()],
  ] as const) {
    const marks = await auditMarks(clusters);
    const tickStart = performance.now();
    const { dispatched } = await dispatch.tick(time);
    const tickEnd = performance.now();
    const runs: Run[] = [];
    await dispatch.drain(POLLERS, runs, 30 * 60_000);
    const synced = new Set(runs.filter((run) => !run.failed).flatMap((run) => run.targets));
    const requests = await syncerRequestsSince(clusters, marks);
    const writes = requests.filter((event) => ["create", "update", "patch", "delete", "deletecollection"].includes(event.verb));
    const walls = runs.map((run) => run.end - run.start);
    const atOnce = clusterNames.map((name) => mostAtOnce(runs.filter((run) => run.shard.startsWith(`${name}/`))));
    console.log(`\n${label}, load ${loadavg()}:`);
    console.log(`  tick to every target synced: ${seconds(Math.max(...runs.map((run) => run.end)) - tickStart)} (the dispatcher: ${seconds(tickEnd - tickStart)}, ${dispatched} shards queued)`);
    console.log(`  targets synced: ${synced.size} of ${config.targets.length}; worker invocations: ${runs.length}, failed ${runs.filter((run) => run.failed).length}, redeliveries (receives > 1) ${runs.filter((run) => run.receives > 1).length}; dead letters: ${await dispatch.deadLetterCount()}`);
    console.log(`  the first worker began ${seconds(Math.min(...runs.map((run) => run.start)) - tickStart)} after the tick; all workers at once: at most ${mostAtOnce(runs)}`);
    console.log(`  a worker's wall time: median ${seconds(median(walls))}, min ${seconds(Math.min(...walls))}, max ${seconds(Math.max(...walls))}; ${seconds(walls.reduce((sum, wall) => sum + wall, 0))} in all (billed time)`);
    console.log(`  workers at once on one API server: at most ${Math.max(...atOnce)} (per cluster: ${atOnce.join(", ")})`);
    const verbs: Record<string, number> = {};
    for (const event of requests) verbs[`${event.verb} ${event.objectRef?.resource ?? "?"}`] = (verbs[`${event.verb} ${event.objectRef?.resource ?? "?"}`] ?? 0) + 1;
    console.log(`  the syncer's API requests: ${requests.length} (${Math.round(requests.length / CLUSTERS)} per API server), writes: ${writes.length}`);
    console.log(`    ${Object.entries(verbs).map(([verb, count]) => `${count} ${verb}`).join(", ")}`);
  }
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => console.error(`cleanup: ${(error as Error).message}`));
}

/** The most runs in progress at one moment. */
function mostAtOnce(runs: Run[]): number {
  const edges = runs.flatMap((run) => [{ at: run.start, step: 1 }, { at: run.end, step: -1 }]).sort((one, other) => one.at - other.at || one.step - other.step);
  let now = 0;
  let most = 0;
  for (const { step } of edges) most = Math.max(most, (now += step));
  return most;
}

function median(values: number[]): number {
  const sorted = [...values].sort((one, other) => one - other);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

function loadavg(): string {
  return os.loadavg().map((load) => load.toFixed(1)).join(" ");
}
