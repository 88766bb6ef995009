// Health checking at fleet size (npm run bench; a benchmark, not a timed test): real HTTP backends in a
// network namespace, 10% of them black-holed, synced into a real API server as the syncer's own user.
// What is measured is what a Lambda runs: health-child.ts bundled with serverless.yml's custom.esbuild, in a
// fresh process under a 128 MB function's V8 heap limits; the fleet and the API server are other processes.
// Prints, for 1,000 and 10,000 backends: a bare TCP connect loop on the same fleet, then for an http and a tcp
// check the check alone (also knowing which backends timed out last run, as a steady sync does) and the whole
// sync (a first run, then a steady one, of a Service of its own each time), each as wall time, CPU time and peak
// RSS of its process, the median of several runs with their range; each goal met or missed, and the steady
// sync beside the bare loop; then the detection latency of fast-detection mode. Beside the first check's whole
// syncs, the same syncs by the CLI as users run it (its bundle; also under the function's heap limits) and from
// its TypeScript sources (the command up to 0.2.0), each a whole process under Node's default heap limits unless
// said, its wall time from spawn to exit. The goals (issues 5 and 15) are for 10,000 backends: wall ≤ 1.25 × the
// probe timeout, CPU ≤ 2 s, peak memory ≤ 128 MB. The fleet server shares this machine's cores, so the wall time
// is also given as a ratio to the bare loop's.
//   HEALTH_BENCH_SIZES=10000          sizes to run (comma-separated)
//   HEALTH_BENCH_RUNS=3               runs of each measurement
//   HEALTH_BENCH_ONLY=probe           skip the whole syncs and fast detection
//   HEALTH_BENCH_ONLY=sync            only the bare loop and the whole syncs: no check alone, no fast detection
//   HEALTH_BENCH_CHECKS=tcp           the targets' checks, each measured in turn (default http,tcp)
//   HEALTH_BENCH_CONCURRENCY=900      checkConcurrency in the config (default: the schema's)
//   HEALTH_BENCH_CPU_PROF=DIR         --cpu-prof for the measured processes (the check's, each sync's), profiles in DIR, and the
//                                     bundle with its source maps in DIR/bundle, to read them by
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import * as esbuild from "esbuild";
import { functionsBuildOptions } from "../../infra/esbuild-options.ts";
import { createTestNetwork } from "../../infra/netns/test-network.ts";
import { selectorlessService, startTestCluster } from "../harness/cluster.ts";
import { buildCliIfStale, CLI_ENTRIES, runCli } from "./cli-process.ts";

const ROOT = path.join(import.meta.dirname, "../..");
const NAMESPACE = "ees-hc-bench";
const PORT = 8080;
const TIMEOUT_MS = 2000;
const SIZES = process.env.HEALTH_BENCH_SIZES ? process.env.HEALTH_BENCH_SIZES.split(",").map(Number) : [1_000, 10_000];
const RUNS = Number(process.env.HEALTH_BENCH_RUNS ?? 3);
const ONLY_PROBE = process.env.HEALTH_BENCH_ONLY === "probe";
const ONLY_SYNC = process.env.HEALTH_BENCH_ONLY === "sync";
const CHECKS = (process.env.HEALTH_BENCH_CHECKS ?? "http,tcp").split(",") as CheckKind[];
type CheckKind = "http" | "tcp";
for (const kind of CHECKS) if (kind !== "http" && kind !== "tcp") throw new Error(`HEALTH_BENCH_CHECKS: expected http or tcp, not ${JSON.stringify(kind)}`);
const CONCURRENCY = process.env.HEALTH_BENCH_CONCURRENCY ? Number(process.env.HEALTH_BENCH_CONCURRENCY) : undefined;
const PROFILE_FLAGS = process.env.HEALTH_BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.HEALTH_BENCH_CPU_PROF}`] : [];
const BLACKHOLED_SHARE = 0.1;
const GOALS = { wallMs: 1.25 * TIMEOUT_MS, cpuMs: 2000, peakMB: 128 };
/** As coldstart.bench.ts: the V8 heap limits Lambda's Node.js runtime gives a 128 MB function. */
const LAMBDA_128_MB_FLAGS = ["--max-semi-space-size=6", "--max-old-space-size=116"];
// 198.19.40.0-198.19.79.255: 40 /24s, 254 hosts each, beside the network's own 198.18.40.0/24.
const RANGES = Array.from({ length: 40 }, (_, index) => `198.19.${40 + index}.0/24`);
const ADDRESSES = RANGES.flatMap((range) => Array.from({ length: 254 }, (_, host) => range.replace(/0\/24$/, String(host + 1))));

const work = await mkdtemp(path.join(tmpdir(), "ees-hc-bench-"));
const CHILD = await bundleChild();
await buildCliIfStale();
const cluster = await startTestCluster([NAMESPACE]);
const network = await createTestNetwork({ name: "ees-hc-bnch", subnetIndex: 40, extraRanges: RANGES });
try {
  const largest = Math.max(...SIZES);
  await network.addAddresses(ADDRESSES.slice(0, largest));
  const fleet = await network.startBackends();
  // One listener answers every address of the namespace: a fleet server per address would cost 10,000 sockets.
  await fleet.listen("0.0.0.0", PORT);
  console.log(`fleet: ${largest} addresses in ${network.name}, probe timeout ${TIMEOUT_MS} ms (goals: wall ≤ ${GOALS.wallMs} ms, CPU ≤ ${GOALS.cpuMs} ms, peak ≤ ${GOALS.peakMB} MB)`);
  console.log(`measured: ${path.relative(ROOT, CHILD)}, node ${LAMBDA_128_MB_FLAGS.join(" ")}`);

  for (const size of SIZES) {
    const addresses = ADDRESSES.slice(0, size);
    const dark = shuffled(addresses).slice(0, Math.round(size * BLACKHOLED_SHARE));
    await network.blackhole(dark);
    console.log(`\n${size} backends, ${dark.length} black-holed: median of ${RUNS} runs (min-max)`);
    const concurrency = CONCURRENCY ? { checkConcurrency: CONCURRENCY } : {};
    const timedOutFile = path.join(work, `timed-out-${size}.json`);
    await writeFile(timedOutFile, JSON.stringify(dark));
    const probeConfigs: string[] = [];
    for (const kind of CHECKS) probeConfigs.push(await writeConfig(`probe-${size}-${kind}`, addresses, concurrency, kind));
    const bare: Measured[] = [];
    const probes: Measured[][] = CHECKS.map(() => []);
    const hinted: Measured[][] = CHECKS.map(() => []);
    // Interleaved, so what drifts on this machine during the runs weighs on all alike.
    for (let run = 0; run < RUNS; run++) {
      bare.push(await child("bare", probeConfigs[0]!));
      if (ONLY_SYNC) continue;
      for (const [index, configPath] of probeConfigs.entries()) {
        probes[index]!.push(await child("probe", configPath, PROFILE_FLAGS));
        hinted[index]!.push(await child("probe", configPath, PROFILE_FLAGS, [timedOutFile]));
      }
    }
    const bareWallMs = median(bare.map((measured) => measured.wallMs));
    row("bare TCP connect loop", bare, (result) => `${result.connected} connected`);
    if (!ONLY_SYNC) {
      for (const [index, kind] of CHECKS.entries()) {
        row(`${kind} check (probe only)`, probes[index]!, (result) => JSON.stringify(result));
        goals(probes[index]!, bareWallMs);
        // As a steady sync probes: what timed out last run (all of the black-holed) goes first.
        row("  timed-out ones first", hinted[index]!, (result) => JSON.stringify(result));
        goals(hinted[index]!, bareWallMs);
      }
    }
    if (!ONLY_PROBE) {
      for (const kind of CHECKS) {
        // The function's code (the bundled child, Lambda's heap limits); for the first check also the CLI as users
        // run it (its bundle), under the function's heap limits too (what is left between them is Node's default
        // heap policy), and from its sources: each a first run then a steady one, of a Service of its own each time.
        const names = kind === CHECKS[0] ? ["function", "bundle", "bundle, Lambda's heap", "sources"] : ["function"];
        const ways = Object.fromEntries(names.map((way) => [way, { first: [] as Measured[], steady: [] as Measured[] }]));
        for (let run = 0; run < RUNS; run++) {
          for (const [way, results] of Object.entries(ways)) {
            const service = `fleet-${size}-${kind}-${run}-${way.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
            await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, service, [{ name: "http", port: PORT }]) });
            const configPath = await writeConfig(service, addresses, concurrency, kind);
            const once = () =>
              way === "function" ? child("sync", configPath, PROFILE_FLAGS) : way === "sources" ? cliSync("sources", configPath) : cliSync("bundle", configPath, way === "bundle" ? [] : LAMBDA_128_MB_FLAGS);
            results.first.push(await once());
            results.steady.push(await once());
          }
        }
        row(`whole sync, ${kind}, first`, ways.function!.first, summary);
        goals(ways.function!.first, bareWallMs);
        row(`whole sync, ${kind}, steady`, ways.function!.steady, summary);
        goals(ways.function!.steady, bareWallMs);
        beside(ways.function!.steady, bare);
        if (!ways.bundle) continue;
        row("CLI, first run", ways.bundle.first, summary);
        row("CLI, steady run", ways.bundle.steady, summary);
        row("  Lambda's heap, first", ways["bundle, Lambda's heap"]!.first, summary);
        row("  Lambda's heap, steady", ways["bundle, Lambda's heap"]!.steady, summary);
        row("CLI from sources, first", ways.sources!.first, summary);
        row("CLI from sources, steady", ways.sources!.steady, summary);
      }
    }
    await network.unblackhole(dark);
  }

  if (!ONLY_PROBE && !ONLY_SYNC) await measureFastDetection();
} finally {
  await network.destroy();
  await cluster.stop();
  await rm(work, { recursive: true, force: true });
}

/** Fast-detection mode's latency: backends black-holed at different points of the round cycle, until published not ready. */
async function measureFastDetection() {
  console.log("\nfast detection: 1,000 backends, 10% black-holed, rise/fall 2/2, a round every 5 s for 50 s");
  const addresses = ADDRESSES.slice(0, 1_000);
  const dark = shuffled(addresses).slice(0, 100);
  await network.blackhole(dark);
  const service = "fleet-fast";
  await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, service, [{ name: "http", port: PORT }]) });
  const configPath = await writeConfig(service, addresses, { fastDetection: { everySeconds: 5, forSeconds: 50 } });
  const running = child("sync", configPath);
  const victims = addresses.filter((address) => !dark.includes(address)).slice(0, 4);
  const started = performance.now();
  const latencies: number[] = [];
  // Failures land at different points of the round cycle: 7.3 s, 16.1 s, 24.9 s and 33.7 s in.
  for (const [index, victim] of victims.entries()) {
    await sleepUntil(started + 7_300 + index * 8_800);
    await network.blackhole([victim]);
    const failedAt = performance.now();
    while ((await readiness(service))[victim] !== false && performance.now() - failedAt < 20_000) await sleep(100);
    latencies.push(Math.round(performance.now() - failedAt));
  }
  const fast = await running;
  console.log(`  detection latency per failure: ${latencies.map((ms) => `${ms} ms`).join(", ")} (max ${Math.max(...latencies)} ms; goal < 15000 ms)`);
  console.log(`  invocation: ${fast.result.rounds} rounds in ${fast.wallMs} ms, ${fast.result.writes} writes, CPU ${fast.cpuMs} ms, peak ${fast.peakRssMB} MB`);
}

async function writeConfig(service: string, addresses: string[], extra: Record<string, unknown> = {}, check: CheckKind = "http"): Promise<string> {
  // JSON, as a config listing thousands of backends would be generated: it loads in a fraction of YAML's memory.
  const file = path.join(cluster.local.dir, `${service}.json`);
  await writeFile(
    file,
    JSON.stringify({
      policy: "upsert-only",
      clusters: [{ name: "bench", kubeconfig: cluster.kubeconfig }],
      targets: [
        {
          name: service,
          cluster: "bench",
          namespace: NAMESPACE,
          service,
          ports: [{ name: "http", port: PORT }],
          sources: [{ name: "fleet", static: addresses.map((address) => ({ address })) }],
          check: check === "tcp" ? { tcp: { timeoutMs: TIMEOUT_MS } } : { http: { path: "/healthz", timeoutMs: TIMEOUT_MS } },
        },
      ],
      ...extra,
    }),
  );
  await cluster.grant(file);
  return file;
}

interface Measured {
  wallMs: number;
  cpuMs: number;
  peakRssMB: number;
  /** The process before any work, modules loaded (not known for the CLI's runs). */
  idleRssMB?: number;
  /** What the child measured it on: counts, reasons, or a report's summary. */
  result: RunSummary & { connected: number };
}

/**
 * `external-endpoint-syncer sync` in a process of its own, as users run it (the bundle) or from its sources, under
 * Node's default heap limits unless given others; measured whole (wall from spawn to exit), its table's row read back.
 */
async function cliSync(entry: keyof typeof CLI_ENTRIES, configPath: string, heapFlags: string[] = []): Promise<Measured> {
  const run = await runCli(entry, ["sync", "--config", configPath], [...heapFlags, ...PROFILE_FLAGS]);
  const cells = run.stdout.split("\n")[1]?.split(/\s+/) ?? [];
  if (run.code !== 0 || cells.length < 9) throw new Error(`the CLI (${entry}) failed (exit ${run.code}): ${run.stderr}${run.stdout.slice(0, 2_000)}`);
  const [, , , status, ready, notReady, , writes] = cells;
  return { ...run, result: { status: status!, endpoints: { ready: Number(ready), notReady: Number(notReady) }, writes: Number(writes), guards: [], rounds: 1, connected: 0 } };
}

async function child(mode: "bare" | "probe" | "sync", configPath: string, flags: string[] = [], args: string[] = []): Promise<Measured> {
  const { stdout } = await promisify(execFile)(process.execPath, [...LAMBDA_128_MB_FLAGS, ...flags, CHILD, mode, configPath, ...args], { maxBuffer: 16 * 1024 * 1024 });
  return JSON.parse(stdout.trim().split("\n").at(-1)!);
}

/** Each goal met or missed by the median, with the worst run; the wall time also against the bare loop's. */
function goals(runs: Measured[], bareWallMs: number) {
  const mark = (values: number[], goal: number) => {
    const middle = median(values);
    return `${middle <= goal ? "met" : "MISSED"} (${middle} ≤ ${goal}, worst ${Math.max(...values)})`;
  };
  const wall = runs.map((measured) => measured.wallMs);
  const ratio = (median(wall) / bareWallMs).toFixed(2);
  console.log(
    `  ${"goals".padEnd(26)} wall ${mark(wall, GOALS.wallMs)}, ${ratio} × the bare loop's ${Math.round(bareWallMs)} ms; ` +
      `CPU ${mark(runs.map((measured) => measured.cpuMs), GOALS.cpuMs)}; peak ${mark(runs.map((measured) => measured.peakRssMB), GOALS.peakMB)}`,
  );
}

/**
 * The steady sync beside the bare loop, medians of the same runs: what the sync costs over the floor (issue 15's
 * yardstick: one worker at 256 MB should carry 10,000 backends, within 2 s of CPU and 128 MB).
 */
function beside(steadies: Measured[], bare: Measured[]) {
  const pair = (key: "wallMs" | "cpuMs" | "peakRssMB") => [median(steadies.map((measured) => measured[key])), median(bare.map((measured) => measured[key]))] as const;
  const [[wall, bareWall], [cpu, bareCpu], [peak, barePeak]] = [pair("wallMs"), pair("cpuMs"), pair("peakRssMB")];
  const met = (value: number, goal: number) => `${value <= goal ? "met" : "MISSED"} (≤ ${goal})`;
  console.log(
    `  ${"beside the bare loop".padEnd(26)} CPU ${cpu} ms against ${bareCpu} ms, goal ${met(cpu, GOALS.cpuMs)}; peak ${peak} MB against ${barePeak} MB, goal ${met(peak, GOALS.peakMB)}; ` +
      `wall ${wall} ms against ${bareWall} ms`,
  );
}

/** health-child.ts built as serverless-esbuild builds the functions from serverless.yml's custom.esbuild. */
async function bundleChild(): Promise<string> {
  const { options, extension } = await functionsBuildOptions();
  const outdir = path.join(process.env.HEALTH_BENCH_CPU_PROF ?? work, "bundle");
  await esbuild.build({ ...options, absWorkingDir: ROOT, entryPoints: ["test/bench/health-child.ts"], outdir, logLevel: "warning" });
  const entry = path.join(outdir, `health-child${extension}`);
  if (!existsSync(entry)) throw new Error(`no bundle at ${entry}`);
  return entry;
}

/** Median and range of each measure over the runs, and what they found (each distinct finding once). */
function row(what: string, runs: Measured[], describe: (result: Measured["result"]) => string) {
  const spread = (values: number[], unit: string, width: number) => `${String(median(values)).padStart(width)} ${unit} (${Math.min(...values)}-${Math.max(...values)})`;
  const findings = [...new Set(runs.map((measured) => describe(measured.result)))].join(" | ");
  console.log(
    `  ${what.padEnd(26)} wall ${spread(runs.map((measured) => measured.wallMs), "ms", 5)}  CPU ${spread(runs.map((measured) => measured.cpuMs), "ms", 5)}  ` +
      `peak ${spread(runs.map((measured) => measured.peakRssMB), "MB", 4)}${runs[0]!.idleRssMB === undefined ? "" : ` (idle ${runs[0]!.idleRssMB})`}  ${findings}`,
  );
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : Math.round((sorted[middle - 1]! + sorted[middle]!) / 2);
}

interface RunSummary {
  status: string;
  error?: string;
  endpoints: { ready: number; notReady: number };
  writes: number;
  guards: string[];
  rounds: number;
}

function summary(result: RunSummary) {
  return `${result.status}${result.error ? ` (${result.error})` : ""}, ${result.endpoints.ready} ready, ${result.endpoints.notReady} not ready, ${result.writes} writes${result.guards.length ? `, guards ${result.guards.join(", ")}` : ""}`;
}

async function readiness(service: string): Promise<Record<string, boolean | undefined>> {
  const list = await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: `kubernetes.io/service-name=${service}` });
  return Object.fromEntries(list.items.flatMap((slice) => (slice.endpoints ?? []).map((endpoint) => [endpoint.addresses[0], endpoint.conditions?.ready])));
}

function shuffled<T>(items: T[]): T[] {
  return items
    .map((item) => [Math.random(), item] as const)
    .sort(([a], [b]) => a - b)
    .map(([, item]) => item);
}

function sleep(ms: number) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function sleepUntil(at: number) {
  return sleep(Math.max(0, at - performance.now()));
}
