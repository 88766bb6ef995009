// Builds the CLI (functions/cli.ts) with the functions' esbuild options (infra/esbuild-options.ts), so the command
// loads the same code as the Lambda functions do, at their cost in time and memory, and the command that runs it
// (functions/cli-launcher.ts, compiled to LAUNCHER: package.json's bin). Run by npm's `prepare` (so `npm ci` and
// `npm install` build it) and by the command itself when a source changed since the build it has. Each build goes to a directory of its own under dist/cli, named in
// dist/cli/build.json once complete, so that processes starting or running meanwhile never see half a build; one
// superseded an hour ago is removed.
import { randomBytes } from "node:crypto";
import { chmod, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import path from "node:path";
import * as esbuild from "esbuild";
import { BUILD_DEFINITION, functionsBuildOptions, ROOT } from "./esbuild-options.ts";

export const CLI_DIST = path.join(ROOT, "dist/cli");
export const BUILD_RECORD = path.join(CLI_DIST, "build.json");
const ENTRY = "functions/cli.ts";
const LAUNCHER_SOURCE = "functions/cli-launcher.ts";
/** package.json's bin. */
export const LAUNCHER = path.join(CLI_DIST, "external-endpoint-syncer.mjs");
/** Beside the sources and the build's own definition: npm rewrites this on every install, so new dependencies rebuild. */
const INSTALLED = "node_modules/.package-lock.json";
/** A build superseded this long ago is removed: a process still running from it may yet load one of its chunks. */
const KEEP_SUPERSEDED_MS = 60 * 60 * 1000;

/**
 * What the command reads: the bundle's entry (relative to dist/cli), and each file the build
 * read with its mtime and size then. Any difference on disk means the bundle may be stale.
 */
export interface BuildRecord {
  entry: string;
  inputs: Record<string, [mtimeMs: number, size: number]>;
}

/** Builds the CLI; returns its entry's path. */
export async function buildCli(): Promise<string> {
  const started = Date.now();
  const { options, extension } = await functionsBuildOptions();
  const name = `build-${started}-${randomBytes(4).toString("hex")}`;
  const outdir = path.join(CLI_DIST, name);
  const result = await esbuild.build({ ...options, absWorkingDir: ROOT, entryPoints: [ENTRY], outdir, metafile: true, logLevel: "warning" });
  // The project's own files; dependencies change only with an install, which INSTALLED stands for (node_modules
  // may be a symlink, hence the paths outside ROOT; a plugin's namespaced input has a colon).
  const sources = Object.keys(result.metafile.inputs).filter((input) => !/(^|\/)node_modules\//.test(input) && !input.startsWith("../") && !input.includes(":"));
  const inputs: BuildRecord["inputs"] = {};
  for (const file of new Set([...sources, ...BUILD_DEFINITION, "infra/build-cli.ts", LAUNCHER_SOURCE, INSTALLED])) {
    // Only npm writes INSTALLED: under another package manager, dependencies change without a rebuild.
    const info = await stat(path.join(ROOT, file)).catch((error: NodeJS.ErrnoException) => (file === INSTALLED && error.code === "ENOENT" ? undefined : Promise.reject(error)));
    if (!info) continue;
    // A file changed while esbuild read it may be in the bundle as it was: recorded so that it never matches.
    inputs[file] = info.mtimeMs >= started ? [-1, -1] : [info.mtimeMs, info.size];
  }
  await buildLauncher(name);
  const entry = `${name}/${path.basename(ENTRY, ".ts")}${extension}`;
  const record: BuildRecord = { entry, inputs };
  const temporary = `${BUILD_RECORD}.${name}`;
  await writeFile(temporary, JSON.stringify(record));
  const superseded = await readFile(BUILD_RECORD, "utf8").then((text) => path.dirname((JSON.parse(text) as BuildRecord).entry), () => undefined);
  await rename(temporary, BUILD_RECORD);
  // Its directory's mtime becomes the time it was superseded, which removeOldBuilds counts from.
  if (superseded) await utimes(path.join(CLI_DIST, superseded), new Date(), new Date()).catch(() => undefined);
  await removeOldBuilds(name);
  return path.join(CLI_DIST, entry);
}

/** Compiles the launcher beside the builds, replacing the one there whole: a run starting meanwhile loads one or the other. */
async function buildLauncher(name: string) {
  const temporary = `${LAUNCHER}.${name}`;
  await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: [LAUNCHER_SOURCE],
    outfile: temporary,
    format: "esm",
    platform: "node",
    target: "node22",
    banner: { js: "#!/usr/bin/env node" },
    logLevel: "warning",
  });
  await chmod(temporary, 0o755);
  await rename(temporary, LAUNCHER);
}

async function removeOldBuilds(current: string) {
  for (const entry of await readdir(CLI_DIST, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === current) continue;
    const where = path.join(CLI_DIST, entry.name);
    const info = await stat(where).catch(() => undefined);
    if (info && Date.now() - info.mtimeMs > KEEP_SUPERSEDED_MS) await rm(where, { recursive: true, force: true });
  }
}

// `node infra/build-cli.ts`, as package.json's prepare runs it.
if (process.argv[1] === import.meta.filename) console.log(`built ${path.relative(ROOT, await buildCli())}`);
