// Cold start and memory of the functions' bundles (issue 8; npm run bench: it measures and prints, it asserts
// no timing). Builds both functions with esbuild exactly as serverless-esbuild builds them from serverless.yml's
// custom.esbuild, and the naive bundle (test/bench/naive-handler.ts, esbuild's defaults). Then, in one run, with
// the cases interleaved so that the machine's load falls on all of them alike, each case in RUNS fresh processes:
//   - the sync handler's import, from the start of import() to the loaded handler (what every config pays; a
//     static/DNS config pays nothing more);
//   - the same plus the EC2 and Route 53 clients an EC2 + Route 53 config loads on first use: the chunks its
//     sources import (functions/aws/sdk-*.ts), both clients made and their credentials resolved;
//   - the naive bundle's import, and the same plus its clients made and their credentials resolved;
//   - the trigger handler's import, and the sync handler's under NODE_OPTIONS=--enable-source-maps;
//   - the CLI's --help, the whole process, as users run it (its bundle) and from its sources (up to 0.2.0);
//   - a sync of 1,000 static endpoints into a real API server by the bundled handler: its process's peak RSS,
//     under Node's default heap limits and under those Lambda's runtime sets for a 128 MB function.
// Real syncs (a static + DNS config, an EC2 + Route 53 config against moto) record which chunk files they load,
// to show that only the second loads AWS SDK code. Prints size, median and spread (min–max), and the goals.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { ChangeResourceRecordSetsCommand, CreateHostedZoneCommand, Route53Client } from "@aws-sdk/client-route-53";
import { EC2Client, RunInstancesCommand } from "@aws-sdk/client-ec2";
import * as esbuild from "esbuild";
import { stringify } from "yaml";
import { functionsBuildOptions } from "../../infra/esbuild-options.ts";
import { selectorlessService, startTestCluster, type TestCluster } from "../harness/cluster.ts";
import { startDnsServer, type TestDnsServer } from "../harness/dns-server.ts";
import { startMoto, type Moto } from "../harness/moto.ts";
import { buildCliIfStale, CLI_ENTRIES, type CliRun, runCli } from "./cli-process.ts";

const ROOT = path.join(import.meta.dirname, "../..");
const RUNS = 9;
const MEMORY_RUNS = 5;
const ENDPOINTS = 1_000;
const NAMESPACE = "ees-coldstart-bench";
const REGION = "eu-west-1";
const GOALS = { staticImportMs: 150, awsShareOfNaive: 0.6, syncPeakMb: 100 };
/**
 * The V8 heap limits Lambda's Node.js runtime gives a 128 MB function: its bootstrap takes a tenth of the memory
 * for the young generation (two semi-spaces) and the rest for the old one.
 */
const LAMBDA_128_MB_FLAGS = "--max-semi-space-size=6 --max-old-space-size=116";

interface Bundle {
  /** The handler's file. */
  entry: string;
  dir: string;
  metafile: esbuild.Metafile;
}

interface ChildResult {
  importMs: number;
  /** CPU time of the process (all its threads) over the same span: what a busy machine does not inflate. */
  importCpuMs: number;
  firstUseMs?: number;
  firstUseCpuMs: number;
  syncMs?: number;
  syncCpuMs?: number;
  maxRssMb: number;
  loaded?: string[];
  result?: { ok?: boolean; targets?: { target: string; status: string; ready: number; notReady: number; error?: string }[] };
}

const work = await mkdtemp(path.join(os.tmpdir(), "ees-coldstart-"));
const cleanups: (() => Promise<unknown>)[] = [() => rm(work, { recursive: true, force: true })];
try {
  const loadBefore = os.loadavg();
  const [sync, trigger] = await buildFunctions(["sync", "trigger"]);
  const naive = await buildNaive();
  const child = await writeChild();
  const ec2Chunk = chunkOf(sync!, "functions/aws/sdk-ec2.ts");
  const route53Chunk = chunkOf(sync!, "functions/aws/sdk-route53.ts");
  const awsEnv = { AWS_ACCESS_KEY_ID: "bench", AWS_SECRET_ACCESS_KEY: "bench", AWS_REGION: REGION, AWS_EC2_METADATA_DISABLED: "true" };

  // Import times: every case once per round, RUNS rounds.
  const cases: Record<string, { bundle: Bundle; options: Record<string, unknown>; nodeOptions?: string }> = {
    "sync: import": { bundle: sync!, options: {} },
    "sync: import + EC2, Route 53 clients": {
      bundle: sync!,
      options: { clients: [{ file: ec2Chunk, client: "EC2Client", region: REGION }, { file: route53Chunk, client: "Route53Client", region: "us-east-1" }] },
    },
    "naive: import": { bundle: naive, options: {} },
    "naive: import + EC2, Route 53 clients": { bundle: naive, options: { firstUse: true } },
    "trigger: import": { bundle: trigger!, options: {} },
    "sync: import, --enable-source-maps": { bundle: sync!, options: {}, nodeOptions: "--enable-source-maps" },
  };
  const timings = new Map<string, ChildResult[]>(Object.keys(cases).map((name) => [name, []]));
  // The command's --help, a whole process each: as users run it (the bundle), and from its sources (up to 0.2.0).
  await buildCliIfStale();
  const help: Record<keyof typeof CLI_ENTRIES, CliRun[]> = { bundle: [], sources: [] };
  for (let round = 0; round < RUNS; round++) {
    for (const [name, { bundle, options, nodeOptions }] of Object.entries(cases)) {
      timings.get(name)!.push(await runChild(child, bundle.entry, options, { ...awsEnv, EES_CONFIG: "/nonexistent.yaml" }, nodeOptions));
    }
    for (const entry of ["bundle", "sources"] as const) help[entry].push(await runCli(entry, ["--help"]));
  }

  // Real syncs into a real API server: which chunks they load, and the peak memory of 1,000 endpoints.
  const cluster = await startTestCluster([NAMESPACE]);
  cleanups.push(() => cluster.stop());
  const dns = await startDnsServer();
  cleanups.push(() => dns.stop());
  const moto = await startMoto().catch((error: unknown) => {
    console.log(`(moto_server did not start, so the EC2 + Route 53 sync is left out: ${(error as Error).message})`);
    return undefined;
  });
  if (moto) cleanups.push(() => moto.stop());

  const staticDns = await proveLoads(child, sync!, "static + DNS", await staticDnsConfig(cluster, dns));
  const aws = moto ? await proveLoads(child, sync!, "EC2 + Route 53", await awsConfig(cluster, moto), { ...awsEnv, AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing" }) : undefined;

  // Each run a new Service, so that every run writes all of it, as a first sync does.
  const memory: Record<"node" | "lambda", ChildResult[]> = { node: [], lambda: [] };
  for (let run = 0; run < MEMORY_RUNS; run++) {
    for (const flags of ["node", "lambda"] as const) {
      const service = `fleet-${run}-${flags}`;
      await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, service, [{ name: "http", port: 80 }]) });
      const configPath = await writeConfig(`${service}.yaml`, cluster, [target(service, [{ static: fleet(run * 2 + (flags === "lambda" ? 1 : 0)) }])]);
      const result = await runChild(child, sync!.entry, { invoke: true }, { EES_CONFIG: configPath }, flags === "lambda" ? LAMBDA_128_MB_FLAGS : undefined);
      const summary = result.result?.targets?.[0];
      if (!result.result?.ok || (summary?.ready ?? 0) + (summary?.notReady ?? 0) !== ENDPOINTS) throw new Error(`the 1,000-endpoint sync did not sync: ${JSON.stringify(result.result)}`);
      memory[flags].push(result);
    }
  }

  // The report.
  const loadAfter = os.loadavg();
  console.log(
    `Cold start and memory: Node ${process.version}, ${os.cpus().length} CPUs, load ${fmtLoad(loadBefore)} before, ${fmtLoad(loadAfter)} after;` +
      ` median [min–max] of ${RUNS} fresh processes (${MEMORY_RUNS} for each 1,000-endpoint sync)`,
  );
  const staticSize = await staticClosure(sync!);
  const awsSize = await closureOf(sync!, [ec2Chunk, route53Chunk]);
  const naiveSize = (await stat(naive.entry)).size;
  const rows: string[][] = [["case", "code loaded", "wall time", "CPU time", "peak RSS"]];
  const timingRow = (name: string, size: string, withClients: boolean) => {
    const results = timings.get(name)!;
    const cpu = (result: ChildResult) => result.importCpuMs + (withClients ? result.firstUseCpuMs : 0);
    rows.push([name, size, ms(results.map(withClients ? total : (result) => result.importMs)), ms(results.map(cpu)), mb(results.map((result) => result.maxRssMb))]);
  };
  timingRow("sync: import", `${megabytes(staticSize.bytes)} (${staticSize.files} files)`, false);
  timingRow("sync: import + EC2, Route 53 clients", `+ ${megabytes(awsSize.bytes)} (${awsSize.files} files)`, true);
  timingRow("naive: import", `${megabytes(naiveSize)} (1 file)`, false);
  timingRow("naive: import + EC2, Route 53 clients", `${megabytes(naiveSize)} (1 file)`, true);
  timingRow("trigger: import", `${megabytes((await staticClosure(trigger!)).bytes)}`, false);
  timingRow("sync: import, --enable-source-maps", `+ ${megabytes(await mapSize(sync!))} of maps`, false);
  for (const [entry, label] of [["bundle", "the command (its bundle)"], ["sources", "functions/cli.ts, from its sources"]] as const) {
    const results = help[entry];
    rows.push([`CLI --help: ${label}`, "", `whole ${ms(results.map((run) => run.wallMs))}`, ms(results.map((run) => run.cpuMs)), mb(results.map((run) => run.peakRssMB))]);
  }
  for (const [flags, label] of [["node", "Node's defaults"], ["lambda", "Lambda's 128 MB flags"]] as const) {
    const results = memory[flags];
    rows.push([
      `sync of ${ENDPOINTS.toLocaleString("en")} static endpoints, ${label}`,
      "sync handler",
      `sync ${ms(results.map((result) => result.syncMs!))}`,
      ms(results.map((result) => result.syncCpuMs!)),
      mb(results.map((result) => result.maxRssMb)),
    ]);
  }
  printTable(rows);
  console.log(
    `all of sync's code: ${megabytes(await allCode(sync!))} in ${outputs(sync!).filter((file) => file.endsWith(".mjs")).length} files; its source maps ${megabytes(await mapSize(sync!))}` +
      ` (in the zip, never read unless NODE_OPTIONS has --enable-source-maps)`,
  );

  for (const proof of [staticDns, aws]) {
    if (!proof) continue;
    const awsLoaded = proof.loaded.filter((file) => proof.awsChunks.has(file));
    console.log(
      `${proof.name} sync (${proof.summary}): loaded ${proof.loaded.length} of ${proof.total} code files;` +
        ` AWS SDK code: ${awsLoaded.length} of ${proof.awsChunks.size} such files${awsLoaded.length ? ` (${awsLoaded.join(", ")})` : ""}`,
    );
  }

  const staticMedian = median(timings.get("sync: import")!.map((result) => result.importMs));
  const staticCpu = median(timings.get("sync: import")!.map((result) => result.importCpuMs));
  const awsMedian = median(timings.get("sync: import + EC2, Route 53 clients")!.map(total));
  const naiveMedian = median(timings.get("naive: import + EC2, Route 53 clients")!.map(total));
  const peak = Math.max(...[...memory.node, ...memory.lambda].map((result) => result.maxRssMb));
  const staticAws = staticDns.loaded.filter((file) => staticDns.awsChunks.has(file)).length;
  console.log("goals (issue 8):");
  goal(
    `static/DNS config: import to handler ≤ ${GOALS.staticImportMs} ms, loading no AWS SDK code`,
    staticMedian <= GOALS.staticImportMs && staticAws === 0,
    `${fmt(staticMedian)} ms (CPU ${fmt(staticCpu)} ms), ${staticAws} AWS SDK files`,
  );
  goal(
    `EC2 + Route 53 config, clients included: ≤ ${GOALS.awsShareOfNaive * 100}% of the naive bundle's time`,
    awsMedian <= GOALS.awsShareOfNaive * naiveMedian,
    `${fmt(awsMedian)} ms against ${fmt(naiveMedian)} ms: ${Math.round((100 * awsMedian) / naiveMedian)}%`,
  );
  goal(`${ENDPOINTS.toLocaleString("en")}-endpoint sync peaks under ${GOALS.syncPeakMb} MB RSS`, peak < GOALS.syncPeakMb, `highest of ${2 * MEMORY_RUNS}: ${fmt(peak)} MB`);
  if (Math.max(loadBefore[0]!, loadAfter[0]!) > os.cpus().length) {
    console.log(
      `note: the machine was busy (load above ${os.cpus().length}), so wall times include waiting for a CPU: the shares of the naive` +
        ` bundle's time and the CPU times hold up; an absolute wall time is best read from a quiet run.`,
    );
  }
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
}

// ---- builds

async function buildFunctions(names: string[]): Promise<Bundle[]> {
  const { options, functions, extension } = await functionsBuildOptions();
  return Promise.all(
    names.map(async (name) => {
      const handler = functions[name]!.handler;
      const base = handler.slice(0, handler.lastIndexOf("."));
      const entry = [".ts", ".js", ".mts", ".mjs"].map((ext) => base + ext).find((file) => existsSync(path.join(ROOT, file)));
      if (!entry) throw new Error(`no source for handler ${handler}`);
      const dir = path.join(work, name);
      const outdir = path.join(dir, path.dirname(entry));
      const result = await esbuild.build({ ...options, absWorkingDir: ROOT, entryPoints: [entry], outdir, metafile: true, logLevel: "warning" });
      return { entry: path.join(outdir, path.basename(base) + extension), dir: ROOT, metafile: result.metafile };
    }),
  );
}

async function buildNaive(): Promise<Bundle> {
  const outfile = path.join(work, "naive", "naive-handler.mjs");
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: ["test/bench/naive-handler.ts"],
    outfile,
    bundle: true,
    minify: true,
    platform: "node",
    format: "esm",
    target: "node22",
    // ES module output with CommonJS inside needs a require, as serverless.yml gives ours.
    banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
    metafile: true,
    logLevel: "error",
  });
  return { entry: outfile, dir: ROOT, metafile: result.metafile };
}

// ---- what a bundle is made of

function outputs(bundle: Bundle): string[] {
  return Object.keys(bundle.metafile.outputs).map((file) => path.resolve(bundle.dir, file));
}

function output(bundle: Bundle, file: string) {
  return bundle.metafile.outputs[path.relative(bundle.dir, file)]!;
}

function chunkOf(bundle: Bundle, source: string): string {
  const found = Object.entries(bundle.metafile.outputs).find(([, out]) => out.entryPoint === source);
  if (!found) throw new Error(`no chunk for ${source} in the bundle: does the code still import it dynamically?`);
  return path.resolve(bundle.dir, found[0]);
}

/** Files and bytes that importing `roots` loads besides `exclude`: their static imports, transitively. */
function closureOf(bundle: Bundle, roots: string[], exclude = new Set<string>()) {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file) || exclude.has(file)) return;
    seen.add(file);
    for (const imported of output(bundle, file).imports) if (imported.kind === "import-statement" && !imported.external) visit(path.resolve(bundle.dir, imported.path));
  };
  roots.forEach(visit);
  return { files: seen.size, bytes: [...seen].reduce((sum, file) => sum + output(bundle, file).bytes, 0), set: seen };
}

function staticClosure(bundle: Bundle) {
  return closureOf(bundle, [bundle.entry]);
}

async function allCode(bundle: Bundle) {
  return outputs(bundle)
    .filter((file) => !file.endsWith(".map"))
    .reduce((sum, file) => sum + output(bundle, file).bytes, 0);
}

async function mapSize(bundle: Bundle) {
  return outputs(bundle)
    .filter((file) => file.endsWith(".map"))
    .reduce((sum, file) => sum + output(bundle, file).bytes, 0);
}

/** Code files that hold AWS SDK code (the SDK or its Smithy runtime). */
function awsChunks(bundle: Bundle): Set<string> {
  return new Set(
    outputs(bundle).filter((file) => !file.endsWith(".map") && Object.keys(output(bundle, file).inputs).some((input) => /node_modules\/(@aws-sdk|@smithy)\//.test(input))),
  );
}

// ---- the child process that imports a bundle

async function writeChild(): Promise<string> {
  const file = path.join(work, "child.mjs");
  // Plain JavaScript, no imports beyond Node's: the child's own baseline stays Node's.
  await writeFile(
    file,
    `
import { registerHooks } from "node:module";
import { pathToFileURL } from "node:url";
const [handlerPath, json] = process.argv.slice(2);
const options = JSON.parse(json);
const loaded = new Set();
if (options.recordLoads) registerHooks({ load(url, context, next) { loaded.add(url); return next(url, context); } });
const context = {
  functionName: "sync", functionVersion: "$LATEST", invokedFunctionArn: "arn:aws:lambda:${REGION}:123456789012:function:sync",
  memoryLimitInMB: "128", awsRequestId: "coldstart-bench", logGroupName: "/aws/lambda/sync", logStreamName: "bench",
  callbackWaitsForEmptyEventLoop: true, getRemainingTimeInMillis: () => 60000, done() {}, fail() {}, succeed() {},
};
const cpu = () => { const { user, system } = process.cpuUsage(); return (user + system) / 1000; };
const startedCpu = cpu();
const started = performance.now();
const handler = await import(pathToFileURL(handlerPath).href);
const imported = performance.now();
const importedCpu = cpu();
if (typeof handler.handler !== "function") throw new Error("no handler in " + handlerPath);
let firstUseMs;
if (options.clients) {
  const modules = await Promise.all(options.clients.map((client) => import(pathToFileURL(client.file).href)));
  const clients = options.clients.map((client, index) => new modules[index][client.client]({ region: client.region }));
  await Promise.all(clients.map((client) => client.config.credentials()));
  firstUseMs = performance.now() - imported;
} else if (options.firstUse) {
  await handler.firstUse();
  firstUseMs = performance.now() - imported;
}
const firstUseCpuMs = cpu() - importedCpu;
let result, syncMs, syncCpuMs;
if (options.invoke) {
  const before = performance.now();
  const beforeCpu = cpu();
  result = await handler.handler({ source: "aws.events", "detail-type": "Scheduled Event" }, context);
  syncMs = performance.now() - before;
  syncCpuMs = cpu() - beforeCpu;
}
process.stdout.write("\\n@@bench " + JSON.stringify({
  importMs: imported - started, importCpuMs: importedCpu - startedCpu, firstUseMs, firstUseCpuMs, syncMs, syncCpuMs,
  maxRssMb: process.resourceUsage().maxRSS / 1024, result,
  loaded: options.recordLoads ? [...loaded] : undefined,
}) + "\\n");
`,
  );
  return file;
}

function runChild(child: string, entry: string, options: Record<string, unknown>, env: Record<string, string>, nodeOptions?: string): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env, POWERTOOLS_LOG_LEVEL: "WARN" };
    delete childEnv.NODE_OPTIONS;
    if (nodeOptions) childEnv.NODE_OPTIONS = nodeOptions;
    const process_ = spawn(process.execPath, [child, entry, JSON.stringify(options)], { env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    process_.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
    process_.stderr.setEncoding("utf8").on("data", (chunk: string) => (err = (err + chunk).slice(-4_000)));
    process_.once("error", reject);
    process_.once("close", (code) => {
      const line = out.split("\n").find((text) => text.startsWith("@@bench "));
      if (code !== 0 || !line) reject(new Error(`child for ${entry} failed (exit ${code}):\n${err}${out.slice(-2_000)}`));
      else resolve(JSON.parse(line.slice("@@bench ".length)) as ChildResult);
    });
  });
}

// ---- real syncs

function target(name: string, sources: unknown[]) {
  return { name, cluster: "bench", namespace: NAMESPACE, service: name, ports: [{ name: "http", port: 80 }], sources, check: { none: {} } };
}

async function writeConfig(file: string, cluster: TestCluster, targets: unknown[]): Promise<string> {
  const configPath = path.join(work, file);
  // upsert-only: a config of one case must not prune what another case's config wrote.
  await writeFile(configPath, stringify({ policy: "upsert-only", clusters: [{ name: "bench", kubeconfig: cluster.kubeconfig }], targets }));
  await cluster.grant(configPath);
  return configPath;
}

/** 1,000 addresses from the benchmark range: never probed (check: none), they only have to be valid. */
function fleet(run: number) {
  return Array.from({ length: ENDPOINTS }, (_, index) => ({ address: `198.18.${100 + run * 4 + Math.floor(index / 250)}.${(index % 250) + 1}` }));
}

async function staticDnsConfig(cluster: TestCluster, dns: TestDnsServer): Promise<string> {
  dns.set("db.coldstart.test", { A: ["198.18.90.1", "198.18.90.2"] });
  for (const name of ["web", "db"]) {
    await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, name, [{ name: "http", port: 80 }]) });
  }
  return writeConfig("static-dns.yaml", cluster, [
    target("web", [{ static: [{ address: "198.18.91.1" }, { address: "198.18.91.2" }] }]),
    target("db", [{ dns: { name: "db.coldstart.test", types: ["A"], server: dns.server } }]),
  ]);
}

async function awsConfig(cluster: TestCluster, moto: Moto): Promise<string> {
  const ec2 = new EC2Client({ region: REGION, endpoint: moto.endpoint });
  await ec2.send(
    new RunInstancesCommand({
      ImageId: "ami-12c6146b",
      MinCount: 2,
      MaxCount: 2,
      TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "role", Value: "coldstart" }] }],
    }),
  );
  const route53 = new Route53Client({ region: "us-east-1", endpoint: moto.endpoint });
  const zone = await route53.send(new CreateHostedZoneCommand({ Name: "coldstart.test", CallerReference: `bench-${Date.now()}` }));
  await route53.send(
    new ChangeResourceRecordSetsCommand({
      HostedZoneId: zone.HostedZone!.Id!,
      ChangeBatch: {
        Changes: [
          {
            Action: "CREATE",
            ResourceRecordSet: { Name: "api.coldstart.test", Type: "A", TTL: 60, ResourceRecords: [{ Value: "198.18.92.1" }, { Value: "198.18.92.2" }] },
          },
        ],
      },
    }),
  );
  await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, "fleet-aws", [{ name: "http", port: 80 }]) });
  // No health check: moto's instances have addresses in its default VPC, which no test may probe.
  return writeConfig("aws.yaml", cluster, [
    target("fleet-aws", [
      { ec2: { regions: [REGION], tags: { role: "coldstart" }, endpoint: moto.endpoint } },
      { route53: { zoneName: "coldstart.test", name: "api.coldstart.test", endpoint: moto.endpoint } },
    ]),
  ]);
}

/** One real sync by the bundled handler, recording the code files it loads. */
async function proveLoads(child: string, bundle: Bundle, name: string, configPath: string, env: Record<string, string> = {}) {
  const result = await runChild(child, bundle.entry, { invoke: true, recordLoads: true }, { ...env, EES_CONFIG: configPath });
  if (!result.result?.ok) throw new Error(`the ${name} sync failed: ${JSON.stringify(result.result)}`);
  const code = outputs(bundle).filter((file) => !file.endsWith(".map"));
  const loaded = result.loaded!.filter((url) => url.startsWith("file:")).map((url) => new URL(url).pathname).filter((file) => code.includes(file));
  const summary = result.result.targets!.map((target) => `${target.target}: ${target.ready + target.notReady} endpoints`).join(", ");
  return { name, summary, loaded: loaded.map((file) => path.basename(file)), total: code.length, awsChunks: new Set([...awsChunks(bundle)].map((file) => path.basename(file))) };
}

// ---- printing

function total(result: ChildResult) {
  return result.importMs + (result.firstUseMs ?? 0);
}

function median(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function fmt(value: number) {
  return value >= 100 ? value.toFixed(0) : value.toFixed(1);
}

function spread(values: number[], unit: string) {
  return `${fmt(median(values))} ${unit} [${fmt(Math.min(...values))}–${fmt(Math.max(...values))}]`;
}

function ms(values: number[]) {
  return spread(values, "ms");
}

function mb(values: number[]) {
  return spread(values, "MB");
}

function megabytes(bytes: number) {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

function fmtLoad(load: number[]) {
  return load.map((value) => value.toFixed(2)).join(" ");
}

function printTable(rows: string[][]) {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  for (const [index, row] of rows.entries()) {
    console.log(row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd());
    if (index === 0) console.log(widths.map((width) => "-".repeat(width)).join("  "));
  }
}

function goal(text: string, met: boolean, measured: string) {
  console.log(`  ${met ? "met   " : "MISSED"}  ${text}: ${measured}`);
}
