// The CLI in a process of its own, measured whole for the benches: the command as users run it (the bin, which
// runs the bundle) or, to compare, functions/cli.ts run from its TypeScript sources, as the command was up to
// 0.2.0. Wall time from spawn to exit (Node's own start included); CPU time and peak RSS of the process, which a
// preloaded module reports as it exits, so nothing else in the process is changed.
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { CLI } from "../harness/cli.ts";

const ROOT = path.join(import.meta.dirname, "../..");
export const CLI_ENTRIES = {
  bundle: CLI,
  sources: path.join(ROOT, "functions/cli.ts"),
} as const;

const MARK = "@@cli-usage ";
const REPORT_USAGE = `data:text/javascript,${encodeURIComponent(
  `import { writeSync } from "node:fs"; process.on("exit", () => { const usage = process.resourceUsage();` +
    ` writeSync(2, "\\n${MARK}" + JSON.stringify({ cpuMs: Math.round((usage.userCPUTime + usage.systemCPUTime) / 1000), peakRssMB: Math.round(usage.maxRSS / 1024) }) + "\\n"); });`,
)}`;

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  wallMs: number;
  cpuMs: number;
  peakRssMB: number;
}

export async function runCli(entry: keyof typeof CLI_ENTRIES, args: string[], nodeFlags: string[] = []): Promise<CliRun> {
  const started = performance.now();
  const result = await promisify(execFile)(process.execPath, ["--import", REPORT_USAGE, ...nodeFlags, CLI_ENTRIES[entry], ...args], { maxBuffer: 64 * 1024 * 1024 }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code?: number; stdout?: string; stderr?: string }) => ({ code: error.code ?? -1, stdout: error.stdout ?? "", stderr: error.stderr ?? String(error) }),
  );
  const wallMs = Math.round(performance.now() - started);
  const line = result.stderr.split("\n").find((text) => text.startsWith(MARK));
  if (!line) throw new Error(`the CLI (${entry}) ${args.join(" ")} reported no usage (exit ${result.code}): ${result.stderr.slice(-2_000)}`);
  if (result.stderr.includes("building the CLI")) throw new Error("the command rebuilt its bundle during a measured run: a source changed since the bench began");
  return { ...result, stderr: result.stderr.replace(`\n${line}\n`, ""), wallMs, ...(JSON.parse(line.slice(MARK.length)) as { cpuMs: number; peakRssMB: number }) };
}

/** Runs the command once, so that a build it needs (a source changed since the last) is not measured. */
export async function buildCliIfStale(): Promise<void> {
  await promisify(execFile)(process.execPath, [CLI_ENTRIES.bundle, "--version"]);
}
