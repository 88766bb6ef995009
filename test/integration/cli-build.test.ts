// The command as users run it (package.json's bin, built by npm's prepare): it runs the CLI's bundle, built with
// the functions' esbuild options, never the TypeScript sources; it builds the bundle again when a file it was
// built from has changed (as after a `git pull`), saying so on stderr, so a stale bundle never runs. Several
// first runs after a change (parallel test files, a cron burst) each get a whole build.
// Each case runs in a copy of the project's tree in a temporary directory (node_modules linked), so its builds
// and edits touch nothing of the checkout's own dist/cli.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cp, mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";

const ROOT = path.join(import.meta.dirname, "../..");
/** What the build reads: the sources (the launcher's among them) and its definition. */
const TREE = ["functions", "package.json", "serverless.yml", "infra/esbuild-options.ts", "infra/esbuild-plugins.ts", "infra/build-cli.ts"];
const NOTE = "external-endpoint-syncer: building the CLI into dist/cli (not built yet, or a source changed since)\n";
/** Prints every module the process loaded, as JSON on stderr's last line. */
const RECORD_LOADS = `data:text/javascript,${encodeURIComponent(
  `import { registerHooks } from "node:module"; const loaded = []; registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });` +
    `process.on("exit", () => process.stderr.write(JSON.stringify(loaded) + "\\n"));`,
)}`;

let copy: string;

before(async () => {
  copy = await mkdtemp(path.join(tmpdir(), "ees-cli-build-"));
  for (const part of TREE) await cp(path.join(ROOT, part), path.join(copy, part), { recursive: true });
  await symlink(path.join(ROOT, "node_modules"), path.join(copy, "node_modules"));
});

after(async () => {
  await rm(copy, { recursive: true, force: true });
});

async function command(args: string[], nodeFlags: string[] = []) {
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [...nodeFlags, path.join(copy, "dist/cli/external-endpoint-syncer.mjs"), ...args]);
  return { stdout, stderr };
}

async function builtEntry(): Promise<string> {
  return (JSON.parse(await readFile(path.join(copy, "dist/cli/build.json"), "utf8")) as { entry: string }).entry;
}

describe("the external-endpoint-syncer command", () => {
  it("runs the bundle npm's prepare built, and no TypeScript source", async () => {
    await promisify(execFile)(process.execPath, [path.join(copy, "infra/build-cli.ts")], { cwd: copy });
    const first = await command(["--version"]);
    assert.equal(first.stderr, "");
    assert.equal(first.stdout, `external-endpoint-syncer ${JSON.parse(await readFile(path.join(ROOT, "package.json"), "utf8")).version}\n`);

    const { stdout, stderr } = await command(["--help"], ["--import", RECORD_LOADS]);
    assert.match(stdout, /^usage: external-endpoint-syncer sync/);
    const loaded = (JSON.parse(stderr.trim().split("\n").at(-1)!) as string[]).filter((url) => url.startsWith("file:"));
    const entry = path.join(copy, "dist/cli", await builtEntry());
    assert.ok(loaded.some((url) => url.endsWith(entry)), `the bundle ${entry} was not loaded: ${loaded.join(", ")}`);
    assert.deepEqual(
      loaded.filter((url) => url.endsWith(".ts")),
      [],
      "a run from a fresh build loads no TypeScript",
    );
    assert.equal(stderr.trim().split("\n").length, 1, `no rebuild note: ${stderr}`);
  });

  it("rebuilds when a file it was built from changed, so what runs is what is on disk", async () => {
    const before = await builtEntry();
    const packageJson = path.join(copy, "package.json");
    await writeFile(packageJson, (await readFile(packageJson, "utf8")).replace(/"version": "[^"]+"/, `"version": "9.9.9-stale-test"`));

    const { stdout, stderr } = await command(["--version"]);

    assert.equal(stderr, NOTE);
    assert.equal(stdout, "external-endpoint-syncer 9.9.9-stale-test\n");
    assert.notEqual(await builtEntry(), before);
  });

  it("gives each of several first runs at once after a change a whole build", async () => {
    const source = path.join(copy, "functions/version.ts");
    await writeFile(source, `${await readFile(source, "utf8")}\n`);

    const runs = await Promise.all([1, 2, 3].map(() => command(["--version"])));

    for (const run of runs) assert.equal(run.stdout, "external-endpoint-syncer 9.9.9-stale-test\n");
    assert.equal((await command(["--version"])).stderr, "", "the last build to finish is named, and is fresh");
  });
});
