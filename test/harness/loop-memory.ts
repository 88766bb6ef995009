// The loop's memory over many ticks, for test/integration/loop-memory.test.ts (a short profile) and
// test/bench/loop.bench.ts (1,000 ticks): loop-memory-child.ts syncs a target of HTTP backends in a network
// namespace into a real API server, as the syncer's own user, logging every run; this side counts the runs in
// its log, pairs each heap sample (after a full GC) with the runs finished by then, and stops it with SIGTERM.
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import readline from "node:readline";
import { stringify } from "yaml";
import { createTestNetwork } from "../../infra/netns/test-network.ts";
import { selectorlessService, startTestCluster } from "./cluster.ts";

const CHILD = path.join(import.meta.dirname, "loop-memory-child.ts");
const PORT = 8080;
const MB = 1024 * 1024;

export interface MemorySample {
  /** Runs finished when the sample was taken. */
  runs: number;
  heapUsed: number;
  /** The heap's object spaces: heapUsed less compiled code. */
  objects: number;
  rss: number;
}

export interface LoopMemory {
  runs: number;
  failedRuns: number;
  /** The first error logged, to tell why runs failed. */
  firstError?: string;
  /** Runs that outlasted the interval, delaying the next tick. */
  overruns: number;
  durationMs: number;
  samples: MemorySample[];
}

export interface LoopMemoryOptions {
  runs: number;
  intervalSeconds: number;
  backends: number;
  namespace: string;
  network: { name: string; subnetIndex: number };
  /** Every 100th run, and the end. */
  progress?: (line: string) => void;
}

export async function measureLoopMemory(options: LoopMemoryOptions): Promise<LoopMemory> {
  const { namespace, backends: count } = options;
  const cluster = await startTestCluster([namespace]);
  const network = await createTestNetwork(options.network);
  try {
    const addresses = Array.from({ length: count }, (_, index) => `198.18.${options.network.subnetIndex}.${10 + index}`);
    await network.addAddresses(addresses);
    const fleet = await network.startBackends();
    for (const address of addresses) await fleet.listen(address, PORT);
    await cluster.admin.core.createNamespacedService({ namespace, body: selectorlessService(namespace, "web", [{ port: PORT }]) });
    const configPath = path.join(cluster.local.dir, "loop-memory.yaml");
    await writeFile(
      configPath,
      stringify({
        clusters: [{ name: "here", kubeconfig: cluster.kubeconfig }],
        targets: [{ name: "web", cluster: "here", namespace, service: "web", ports: [{ port: PORT }], sources: [{ static: addresses.map((address) => ({ address })) }], check: { http: { path: "/", timeoutMs: 1000 } } }],
      }),
    );
    await cluster.grant(configPath, "here");
    return await measure(configPath, options);
  } finally {
    await network.destroy();
    await cluster.stop();
  }
}

async function measure(configPath: string, options: LoopMemoryOptions): Promise<LoopMemory> {
  const started = Date.now();
  const child = spawn(process.execPath, ["--expose-gc", CHILD, configPath, String(options.intervalSeconds)], { stdio: ["ignore", "pipe", "pipe", "pipe"] });
  const closed = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  const figures: LoopMemory = { runs: 0, failedRuns: 0, overruns: 0, durationMs: 0, samples: [] };
  const unexpected: string[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    readline.createInterface({ input: stream }).on("line", (line) => {
      let entry: { message?: string; level?: string; error?: string; pruneErrors?: unknown[] };
      try {
        entry = JSON.parse(line) as typeof entry;
      } catch {
        if (unexpected.length < 20) unexpected.push(line);
        return;
      }
      if (entry.level === "ERROR" && entry.message !== "sync finished") figures.firstError ??= line.slice(0, 500);
      if (entry.message === "run outlasted the interval: the next starts now") figures.overruns++;
      if (entry.message !== "sync finished") return;
      figures.runs++;
      if (entry.level === "ERROR") figures.failedRuns++;
      if (figures.runs % 100 === 0) options.progress?.(`${figures.runs} runs, ${Math.round((Date.now() - started) / 1000)} s`);
      if (figures.runs === options.runs) child.kill("SIGTERM");
    });
  }
  readline.createInterface({ input: child.stdio[3] as NodeJS.ReadableStream }).on("line", (line) => {
    const { heapUsed, objects, rss } = JSON.parse(line) as Omit<MemorySample, "runs">;
    figures.samples.push({ runs: figures.runs, heapUsed, objects, rss });
  });
  const code = await closed;
  figures.durationMs = Date.now() - started;
  if (code !== 0 || figures.runs < options.runs) {
    throw new Error(`the loop exited with code ${code} after ${figures.runs} of ${options.runs} runs${unexpected.length ? `; its other output:\n${unexpected.join("\n")}` : ""}`);
  }
  return figures;
}

/**
 * Growth past the warm-up (the first `warmUpShare` of the runs), of the objects and of the whole heap: the
 * least-squares slope over the runs, and the median of the samples of the last fifth against that of the fifth
 * after the warm-up.
 */
export function heapGrowth(memory: LoopMemory, warmUpShare = 0.2) {
  const steady = memory.samples.filter((sample) => sample.runs >= memory.runs * warmUpShare);
  const median = (values: number[]) => values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
  const window = (from: number, to: number) => steady.filter((sample) => sample.runs >= memory.runs * from && sample.runs <= memory.runs * to);
  const early = window(warmUpShare, warmUpShare + 0.2);
  const late = window(0.8, 1);
  const slope = (value: (sample: MemorySample) => number) => {
    const meanRuns = steady.reduce((sum, sample) => sum + sample.runs, 0) / steady.length;
    const meanValue = steady.reduce((sum, sample) => sum + value(sample), 0) / steady.length;
    const covariance = steady.reduce((sum, sample) => sum + (sample.runs - meanRuns) * (value(sample) - meanValue), 0);
    const variance = steady.reduce((sum, sample) => sum + (sample.runs - meanRuns) ** 2, 0);
    return variance > 0 ? covariance / variance : Number.NaN;
  };
  const mb = (samples: MemorySample[], value: (sample: MemorySample) => number) => median(samples.map(value)) / MB;
  return {
    samples: steady.length,
    objectsSlopeBytesPerRun: slope((sample) => sample.objects),
    earlyObjectsMB: mb(early, (sample) => sample.objects),
    lateObjectsMB: mb(late, (sample) => sample.objects),
    heapSlopeBytesPerRun: slope((sample) => sample.heapUsed),
    earlyHeapMB: mb(early, (sample) => sample.heapUsed),
    lateHeapMB: mb(late, (sample) => sample.heapUsed),
    earlyRssMB: mb(early, (sample) => sample.rss),
    lateRssMB: mb(late, (sample) => sample.rss),
    peakRssMB: Math.max(...memory.samples.map((sample) => sample.rss)) / MB,
  };
}
