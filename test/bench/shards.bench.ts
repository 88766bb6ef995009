// What one worker's shard costs under Lambda's CPU (issue 15; npm run bench: it measures and prints, it asserts
// nothing). A Lambda function gets CPU in proportion to its memory, a whole vCPU at 1,769 MB; here the worker runs
// under a CPU quota (a cgroup's CFS limit) equal to that share at 128, 256, 512 and 1,769 MB, with the V8 heap
// limits Lambda's Node.js runtime sets for that memory. What runs is health-child.ts's shard mode bundled with
// serverless.yml's esbuild options: runSync over the shard's targets, named as a worker names them, and publishRun. The backends are
// real TCP listeners in a network namespace, every tenth address black-holed unless told otherwise (so each
// 10-backend target has one probe that waits out its connect timeout); the API server is real, and its audit log counts the requests.
// Shards: 1, 10 and 100 targets of 10 backends each, and one target of 10,000. Each target is synced once first
// (its Service's slices created), then measured in the steady state: per quota and shard, the median (min-max) of
// RUNS runs of wall time, CPU time and peak RSS, the process's start under the same quota (Node, the bundle's
// import and the config's load: a cold start's share), the bytes it logged at the default level (its log lines, and
// its metrics in CloudWatch's embedded metric format), and the API requests per run.
//   SHARDS_BENCH_RUNS=3              runs of each measurement
//   SHARDS_BENCH_MEMORY=128,1769     the memory sizes to emulate (default 128,256,512,1769)
//   SHARDS_BENCH_SHAPES=100x10       the shards, TARGETSxBACKENDS (default 1x10,10x10,100x10,1x10000)
//   SHARDS_BENCH_CHECK=http          the targets' check (default tcp)
//   SHARDS_BENCH_DARK=0              the share of backends black-holed (default 0.1: every tenth)
//   SHARDS_BENCH_CFS_PERIOD_MS=10    the quota's period (default 100, the kernel's)
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import * as esbuild from "esbuild";
import { functionsBuildOptions } from "../../infra/esbuild-options.ts";
import { createTestNetwork } from "../../infra/netns/test-network.ts";
import { selectorlessService, startTestCluster } from "../harness/cluster.ts";

const ROOT = path.join(import.meta.dirname, "../..");
const NAMESPACE = "ees-shards-bench";
const PORT = 8080;
const TIMEOUT_MS = 2000;
const RUNS = Number(process.env.SHARDS_BENCH_RUNS ?? 3);
const MEMORY_SIZES = (process.env.SHARDS_BENCH_MEMORY ?? "128,256,512,1769").split(",").map(Number);
const SHAPES = (process.env.SHARDS_BENCH_SHAPES ?? "1x10,10x10,100x10,1x10000").split(",").map((shape) => {
  const [targets, backends] = shape.split("x").map(Number);
  if (!Number.isInteger(targets) || !Number.isInteger(backends) || targets! < 1 || backends! < 1) throw new Error(`SHARDS_BENCH_SHAPES: expected TARGETSxBACKENDS, not ${JSON.stringify(shape)}`);
  return { targets: targets!, backends: backends! };
});
const CHECK = process.env.SHARDS_BENCH_CHECK ?? "tcp";
if (CHECK !== "tcp" && CHECK !== "http") throw new Error(`SHARDS_BENCH_CHECK: expected tcp or http, not ${JSON.stringify(CHECK)}`);
const DARK = Number(process.env.SHARDS_BENCH_DARK ?? 0.1);
if (!(DARK >= 0 && DARK <= 1)) throw new Error(`SHARDS_BENCH_DARK: expected a share from 0 to 1, not ${JSON.stringify(process.env.SHARDS_BENCH_DARK)}`);
/** Every DARK_EVERY-th address is black-holed, so a target of 10 backends at the default share has exactly one. */
const DARK_EVERY = DARK > 0 ? Math.round(1 / DARK) : 0;
for (const memory of MEMORY_SIZES) if (!(memory >= 128 && memory <= 10_240)) throw new Error(`SHARDS_BENCH_MEMORY: ${memory} is not a Lambda memory size (128-10240)`);
/** Lambda's CPU share: a whole vCPU at 1,769 MB, in proportion below (AWS Lambda developer guide, "Memory and computing power"). */
const FULL_VCPU_MB = 1769;
/** As serverless.yml sets them: the stage is a dimension of every metric; INFO is the default log level. */
const CHILD_ENV = { ...process.env, EES_STAGE: "bench", POWERTOOLS_LOG_LEVEL: "INFO" };
/** The kernel's default CFS period unless told; Lambda's own is not published. */
const CFS_PERIOD_US = Number(process.env.SHARDS_BENCH_CFS_PERIOD_MS ?? 100) * 1000;
if (!(CFS_PERIOD_US >= 1_000 && CFS_PERIOD_US <= 1_000_000)) throw new Error(`SHARDS_BENCH_CFS_PERIOD_MS: expected 1 to 1000, not ${JSON.stringify(process.env.SHARDS_BENCH_CFS_PERIOD_MS)}`);
// 198.19.180.0-198.19.219.255: 40 /24s of 254 hosts, apart from the other benches' ranges.
const RANGES = Array.from({ length: 40 }, (_, index) => `198.19.${180 + index}.0/24`);
const ADDRESSES = RANGES.flatMap((range) => Array.from({ length: 254 }, (_, host) => range.replace(/0\/24$/, String(host + 1))));
/** Spins for 2 s of wall time and prints the CPU time it got. */
const BUSY_LOOP = `const start = performance.now(), cpu = process.cpuUsage(); while (performance.now() - start < 2000); const used = process.cpuUsage(cpu);
console.log(JSON.stringify({ wallMs: performance.now() - start, cpuMs: (used.user + used.system) / 1000 }));`;

/**
 * The V8 heap limits Lambda's Node.js runtime bootstrap sets for a function of `memoryMB`: a tenth of the memory
 * for the young generation (two semi-spaces), the rest for the old one (128 MB: 6 and 116, as the other benches).
 */
function lambdaHeapFlags(memoryMB: number): string[] {
  const young = Math.floor(memoryMB / 10);
  return [`--max-semi-space-size=${Math.floor(young / 2)}`, `--max-old-space-size=${memoryMB - young}`];
}

interface Shard {
  label: string;
  config: string;
}

interface Measured {
  wallMs: number;
  cpuMs: number;
  peakRssMB: number;
  startup: { wallMs: number; cpuMs: number };
  result: { statuses: Record<string, number>; errors: string[]; ready: number; notReady: number; writes: number };
  requests: number;
  verbs: string;
  /** What the run logged at the default level (INFO): its log lines and its metrics (embedded metric format). */
  logBytes: { lines: number; metrics: number };
}

const work = await mkdtemp(path.join(os.tmpdir(), "ees-shards-bench-"));
const cgroups = await cpuCgroups();
const cleanups: (() => Promise<unknown>)[] = [() => rm(work, { recursive: true, force: true })];
try {
  const child = await bundleChild();
  for (const memory of MEMORY_SIZES) cleanups.push(await cgroups.create(`ees-shards-${memory}`, memory / FULL_VCPU_MB));
  const cluster = await startTestCluster([NAMESPACE]);
  cleanups.push(() => cluster.stop());
  const network = await createTestNetwork({ name: "ees-shard-bn", subnetIndex: 187, extraRanges: RANGES });
  cleanups.push(() => network.destroy());
  const largest = Math.max(...SHAPES.map((shape) => shape.targets * shape.backends));
  if (largest > ADDRESSES.length) throw new Error(`a shard of ${largest} backends is more than the ${ADDRESSES.length} addresses here`);
  await network.addAddresses(ADDRESSES.slice(0, largest));
  const fleet = await network.startBackends();
  await fleet.listen("0.0.0.0", PORT, { kind: CHECK });
  if (DARK_EVERY) await network.blackhole(ADDRESSES.slice(0, largest).filter((_, index) => index % DARK_EVERY === DARK_EVERY - 1));

  const loadBefore = os.loadavg();
  console.log(`Shards under Lambda's CPU: Node ${process.version}, ${os.cpus().length} CPUs, load ${loadBefore.map((load) => load.toFixed(1)).join(" ")}`);
  console.log(`measured: test/bench/health-child.ts bundled, its shard mode; ${CHECK} check, ${TIMEOUT_MS} ms timeout, ${DARK_EVERY ? `every ${DARK_EVERY}th backend black-holed` : "no backend black-holed"}; CFS period ${CFS_PERIOD_US / 1000} ms`);
  console.log("\nthe quotas, proven by a 2 s busy loop in each (CPU time / wall time):");
  for (const memory of MEMORY_SIZES) {
    const share = memory / FULL_VCPU_MB;
    const busy = JSON.parse(await cgroups.run(`ees-shards-${memory}`, [...lambdaHeapFlags(memory), "-e", BUSY_LOOP]));
    console.log(`  ${String(memory).padStart(5)} MB: quota ${share.toFixed(3)} vCPU, busy loop got ${(busy.cpuMs / busy.wallMs).toFixed(3)}`);
  }

  // Each shard's targets on addresses of their own, their Services made, synced once (first run, no quota).
  const shards: Shard[] = [];
  let next = 0;
  for (const { targets, backends } of SHAPES) {
    const label = `${targets} × ${backends.toLocaleString("en")}`;
    const services = Array.from({ length: targets }, (_, index) => `s${targets}x${backends}-${index}`);
    for (const service of services) {
      await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, service, [{ name: "http", port: PORT }]) });
    }
    const addressesOf = () => {
      if (next + backends > largest) next = 0;
      next += backends;
      return ADDRESSES.slice(next - backends, next);
    };
    const config = await writeConfig(`shard-${targets}x${backends}`, cluster.kubeconfig, services.map((service) => ({ service, addresses: addressesOf() })));
    await cluster.grant(config);
    const first = await measureRun(config, child);
    console.log(`\nshard ${label}: first run, no quota: ${first.wallMs} ms, CPU ${first.cpuMs} ms, ${first.result.writes} writes, ${first.requests} requests`);
    shards.push({ label, config });
  }

  // Steady runs, the quotas interleaved so that the machine's drift weighs on all alike.
  const results = new Map<string, Measured[]>();
  for (let run = 0; run < RUNS; run++) {
    for (const shard of shards) {
      for (const memory of MEMORY_SIZES) {
        const key = `${shard.label}@${memory}`;
        results.set(key, [...(results.get(key) ?? []), await measureRun(shard.config, child, memory)]);
      }
    }
  }

  console.log(`\nsteady runs: median (min-max) of ${RUNS}; load ${os.loadavg().map((load) => load.toFixed(1)).join(" ")} at the end`);
  const header = ["memory", "shard (targets × backends)", "sync wall", "sync CPU", "peak RSS", "start: wall, CPU", "log: lines, metrics", "requests", "found"];
  const rows = [header];
  for (const memory of MEMORY_SIZES) {
    for (const shard of shards) {
      const runs = results.get(`${shard.label}@${memory}`)!;
      const spread = (values: number[], unit: string) => `${median(values)} ${unit} (${Math.min(...values)}-${Math.max(...values)})`;
      const found = [...new Set(runs.map(({ result }) => `${result.ready} ready, ${result.notReady} not, ${result.writes} writes, ${JSON.stringify(result.statuses)}${result.errors.length ? ` ${result.errors.join("; ")}` : ""}`))];
      rows.push([
        `${memory} MB`,
        shard.label,
        spread(runs.map((measured) => measured.wallMs), "ms"),
        spread(runs.map((measured) => measured.cpuMs), "ms"),
        spread(runs.map((measured) => measured.peakRssMB), "MB"),
        `${median(runs.map((measured) => measured.startup.wallMs))} ms, ${median(runs.map((measured) => measured.startup.cpuMs))} ms`,
        `${median(runs.map((measured) => measured.logBytes.lines))} B, ${median(runs.map((measured) => measured.logBytes.metrics))} B`,
        `${median(runs.map((measured) => measured.requests))} (${runs[0]!.verbs})`,
        found.join(" | "),
      ]);
    }
  }
  const widths = header.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const row of rows) console.log(`  ${row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ")}`);

  /** One run of the shard's config in a fresh process (as a Lambda of `memoryMB` when given), with the API requests it made. */
  async function measureRun(config: string, entry: string, memoryMB?: number): Promise<Measured> {
    const mark = await cluster.auditMark();
    const args = [entry, "shard", config];
    const output = memoryMB ? await cgroups.run(`ees-shards-${memoryMB}`, [...lambdaHeapFlags(memoryMB), ...args]) : await execute(process.execPath, args);
    const lines = output.trim().split("\n");
    const measured = JSON.parse(lines.pop()!) as Omit<Measured, "requests" | "verbs" | "logBytes">;
    const logBytes = { lines: 0, metrics: 0 };
    for (const line of lines) logBytes[line.includes('"_aws"') ? "metrics" : "lines"] += Buffer.byteLength(line) + 1;
    const requests = await cluster.syncerRequestsSince(mark);
    const verbs: Record<string, number> = {};
    for (const event of requests) {
      const verb = `${event.verb} ${event.objectRef?.resource ?? "?"}`;
      verbs[verb] = (verbs[verb] ?? 0) + 1;
    }
    return { ...measured, logBytes, requests: requests.length, verbs: Object.entries(verbs).map(([verb, count]) => `${count} ${verb}`).join(", ") };
  }
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => console.error(`cleanup: ${(error as Error).message}`));
}

async function writeConfig(name: string, kubeconfig: string, targets: { service: string; addresses: string[] }[]): Promise<string> {
  const file = path.join(work, `${name}.json`);
  const check = CHECK === "tcp" ? { tcp: { timeoutMs: TIMEOUT_MS } } : { http: { path: "/healthz", timeoutMs: TIMEOUT_MS } };
  await writeFile(
    file,
    JSON.stringify({
      policy: "upsert-only",
      // One shard's runs come minutes apart here; health streaks older than 3 intervals would restart and be rewritten.
      syncIntervalSeconds: 3600,
      clusters: [{ name: "bench", kubeconfig }],
      targets: targets.map(({ service, addresses }) => ({
        name: service,
        cluster: "bench",
        namespace: NAMESPACE,
        service,
        ports: [{ name: "http", port: PORT }],
        sources: [{ name: "fleet", static: addresses.map((address) => ({ address })) }],
        check,
      })),
    }),
  );
  return file;
}

/** A child's stdout, in the functions' environment. */
async function execute(file: string, args: string[]): Promise<string> {
  return (await promisify(execFile)(file, args, { maxBuffer: 64 * 1024 * 1024, env: CHILD_ENV })).stdout;
}

/**
 * CPU-limited cgroups: cgroup v2's cpu.max where the cpu controller is on the unified hierarchy, else v1's CFS
 * quota. `run` starts Node through a shell that joins the cgroup first, so every thread Node makes is limited.
 */
async function cpuCgroups() {
  const unified = "/sys/fs/cgroup";
  const v2 = (await readFile(path.join(unified, "cgroup.controllers"), "utf8").catch(() => "")).split(/\s+/).includes("cpu");
  const root = v2 ? unified : "/sys/fs/cgroup/cpu";
  if (!existsSync(path.join(root, "cgroup.procs"))) throw new Error(`no cgroup cpu controller at ${root}: the quotas need cgroup v1 or v2 with cpu, as root`);
  if (v2) await writeFile(path.join(unified, "cgroup.subtree_control"), "+cpu");
  return {
    async create(name: string, cpus: number) {
      const quotaUs = Math.round(cpus * CFS_PERIOD_US);
      if (quotaUs < 1_000) throw new Error(`a quota of ${cpus.toFixed(3)} CPU in a ${CFS_PERIOD_US / 1000} ms period is under the kernel's 1 ms minimum: lengthen SHARDS_BENCH_CFS_PERIOD_MS`);
      const dir = path.join(root, name);
      await mkdir(dir, { recursive: true });
      if (v2) await writeFile(path.join(dir, "cpu.max"), `${quotaUs} ${CFS_PERIOD_US}`);
      else {
        await writeFile(path.join(dir, "cpu.cfs_period_us"), String(CFS_PERIOD_US));
        await writeFile(path.join(dir, "cpu.cfs_quota_us"), String(quotaUs));
      }
      return () => rmdir(dir);
    },
    run(name: string, args: string[]) {
      return execute("/bin/sh", ["-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', path.join(root, name), process.execPath, ...args]);
    },
  };
}

/** health-child.ts built as serverless-esbuild builds the functions from serverless.yml's custom.esbuild. */
async function bundleChild(): Promise<string> {
  const { options, extension } = await functionsBuildOptions();
  const outdir = path.join(work, "bundle");
  await esbuild.build({ ...options, absWorkingDir: ROOT, entryPoints: ["test/bench/health-child.ts"], outdir, logLevel: "warning" });
  const entry = path.join(outdir, `health-child${extension}`);
  if (!existsSync(entry)) throw new Error(`no bundle at ${entry}`);
  return entry;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 ? sorted[middle]! : Math.round((sorted[middle - 1]! + sorted[middle]!) / 2);
}
