// The command (package.json's bin), compiled by infra/build-cli.ts to dist/cli/external-endpoint-syncer.mjs and
// run from there: Node would strip this file's types only after loading a compiler, about 50 ms and 14 MB on
// every run. It runs the CLI's bundle, the functions' code built with their esbuild options, so it starts and
// uses memory as they do. If a file the bundle was built from has changed since (a `git pull`, an edit), it is
// rebuilt first, saying so on stderr: a stale bundle never runs.
import { readFileSync, statSync } from "node:fs";
import { enableCompileCache } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { BuildRecord } from "../infra/build-cli.ts";

/** The project: this runs from dist/cli. */
const ROOT = path.join(import.meta.dirname, "../..");
const BUILD_RECORD = path.join(ROOT, "dist/cli/build.json");

// Node keeps the bundle's compiled code in the OS's temporary directory, keyed by path and Node version: later
// runs import it faster. (The functions cannot do this: see docs/performance.md.)
enableCompileCache();

const entry = builtEntry() ?? (await rebuild());
const { main } = (await import(pathToFileURL(entry).href)) as typeof import("./cli.ts");
process.exitCode = await main(process.argv.slice(2));

/** The bundle's entry, if the build record says it was built from the files on disk now. */
function builtEntry(): string | undefined {
  let record: BuildRecord;
  try {
    record = JSON.parse(readFileSync(BUILD_RECORD, "utf8")) as BuildRecord;
  } catch {
    return undefined;
  }
  for (const [file, [mtimeMs, size]] of Object.entries(record.inputs)) {
    const now = statSync(path.join(ROOT, file), { throwIfNoEntry: false });
    if (now?.mtimeMs !== mtimeMs || now.size !== size) return undefined;
  }
  return path.join(ROOT, "dist/cli", record.entry);
}

async function rebuild(): Promise<string> {
  process.stderr.write("external-endpoint-syncer: building the CLI into dist/cli (not built yet, or a source changed since)\n");
  const { buildCli } = (await import(pathToFileURL(path.join(ROOT, "infra/build-cli.ts")).href)) as typeof import("../infra/build-cli.ts");
  return buildCli();
}
