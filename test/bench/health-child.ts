// One measured run for health.bench.ts, in a process of its own so its CPU time and peak memory are the
// syncer's alone. health.bench.ts bundles this file as serverless.yml bundles the functions and runs the bundle
// under a 128 MB Lambda's V8 heap limits. Prints one JSON line.
//   node health-child.mjs bare CONFIG    a bare TCP connect loop over the target's backends: the floor
//   node health-child.mjs probe CONFIG [TIMED_OUT]
//                                        the target's real check over its backends, no Kubernetes; TIMED_OUT, a
//                                        JSON list of the addresses the last run saw time out, as a sync reads it
//                                        from its memory
//   node health-child.mjs sync CONFIG    runSync as the functions run it
//   node health-child.mjs shard CONFIG   runSync over every target as a worker syncs its shard (named targets, so no
//                                        pruning), then its log lines and metrics as the function publishes them (on
//                                        stdout before the JSON line); for shards.bench.ts, also the process's start
//                                        (Node, the bundle's import, the config's load) before the sync
import { readFile } from "node:fs/promises";
import { connect } from "node:net";
import { loadConfig } from "../../functions/config/load.ts";
import { runSync } from "../../functions/engine/run.ts";
import { buildCheck } from "../../functions/health/build.ts";
import { probeAll, probeLimiter } from "../../functions/health/probe-all.ts";
import { ClusterConnections } from "../../functions/kube/client.ts";
import type { Backend } from "../../functions/model.ts";

// The process before any work, modules loaded: what the probes add is the peak less this.
const idleRssMB = Math.round(process.memoryUsage().rss / 1024 / 1024);
const [mode, configPath, timedOutPath] = process.argv.slice(2);
const config = await loadConfig(configPath!);
const target = config.targets[0]!;

/** Wall and CPU time of `work`, and the process's peak RSS so far (module loading included, as on Lambda). */
async function measure<T>(work: () => Promise<T>) {
  const [wallStart, cpuStart] = [performance.now(), process.cpuUsage()];
  const result = await work();
  const cpu = process.cpuUsage(cpuStart);
  return { result, wallMs: Math.round(performance.now() - wallStart), cpuMs: Math.round((cpu.user + cpu.system) / 1000), peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024), idleRssMB };
}

const backends = (): Backend[] => (target.sources[0]!.static ?? []).map((entry) => ({ address: entry.address!, family: "IPv4", sources: ["bench"] }));

if (mode === "bare") {
  const list = backends();
  const port = target.ports[0]!.port;
  const check = Array.isArray(target.check) ? target.check[0]! : target.check;
  const timing = (check.http ?? check.tcp)!;
  const connectTimeoutMs = timing.connectTimeoutMs ?? Math.ceil(timing.timeoutMs / 2);
  // The floor to compare with: connect and close, the same bound and connect timeout, nothing else; workers
  // taking the next address, so the loop itself costs next to nothing.
  const run = await measure(async () => {
    let next = 0;
    let connected = 0;
    const one = (address: string) =>
      new Promise<void>((resolve) => {
        const socket = connect({ host: address, port });
        const timer = setTimeout(() => socket.destroy(), connectTimeoutMs);
        socket.once("connect", () => (connected++, socket.destroy()));
        socket.once("close", () => (clearTimeout(timer), resolve()));
        socket.once("error", () => {});
      });
    const worker = async () => {
      while (next < list.length) await one(list[next++]!.address);
    };
    await Promise.all(Array.from({ length: Math.min(config.checkConcurrency, list.length) }, worker));
    return { connected };
  });
  console.log(JSON.stringify(run));
} else if (mode === "probe") {
  const run = await measure(async () => {
    const check = await buildCheck(target.check, target.ports[0]!.port);
    const timedOutBefore = new Set<string>(timedOutPath ? JSON.parse(await readFile(timedOutPath, "utf8")) : []);
    const verdicts = await probeAll(backends(), check, { limit: probeLimiter(config.checkConcurrency), signal: new AbortController().signal, recheckDelayMs: target.recheckDelayMs, timedOutBefore });
    const reasons: Record<string, number> = {};
    for (const verdict of verdicts.values()) reasons[verdict.reason] = (reasons[verdict.reason] ?? 0) + 1;
    return reasons;
  });
  console.log(JSON.stringify(run));
} else if (mode === "shard") {
  // Imported in this mode only, so that the other modes' processes stay as health.bench.ts measured them; as in
  // the function, it is loaded before its handler runs.
  const { publishRun } = await import("../../functions/observability.ts");
  // Node's start, the imports and the config's load: performance.now() counts from the process's start.
  const cpu = process.cpuUsage();
  const startup = { wallMs: Math.round(performance.now()), cpuMs: Math.round((cpu.user + cpu.system) / 1000) };
  const names = config.targets.map((entry) => entry.name);
  const run = await measure(async () => {
    const report = await runSync(config, new ClusterConnections(config.clusters), { targets: names });
    publishRun(report, config.metrics);
    return report;
  });
  const statuses: Record<string, number> = {};
  for (const report of run.result.targets) statuses[report.status] = (statuses[report.status] ?? 0) + 1;
  const sum = (key: "ready" | "notReady") => run.result.targets.reduce((total, report) => total + report.endpoints[key], 0);
  const errors = [...new Set(run.result.targets.flatMap((report) => (report.error ? [report.error] : [])))];
  console.log(JSON.stringify({ ...run, startup, result: { statuses, errors, ready: sum("ready"), notReady: sum("notReady"), writes: run.result.targets.reduce((total, report) => total + report.writes, 0) } }));
} else {
  // As the scheduled function runs it: fast detection applies when the config sets it.
  const run = await measure(() => runSync(config, new ClusterConnections(config.clusters), { fastDetection: true }));
  const report = run.result.targets[0]!;
  console.log(JSON.stringify({ ...run, result: { status: report.status, error: report.error, endpoints: report.endpoints, writes: report.writes, guards: report.guards.map((trip) => trip.guard), rounds: run.result.rounds ?? 1 } }));
}
