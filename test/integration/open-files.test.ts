// checkConcurrency against the open-file limit of the process that probes, in child processes under a real
// `ulimit -n`, probing real HTTP backends in a network namespace.
//
// Cases: at `ulimit -n 100` the CLI's sync refuses checkConcurrency 250 (exit 2, naming the field and the value)
// while validate, which knows nothing of where the config will run, accepts it; what the refusal spares:
// probing 250 backends 250 at a time at that limit makes most verdicts CheckerError; at `ulimit -n 350`, the
// least that allows 250, the config loads and every probe passes.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { createTestNetwork, type TestNetwork } from "../../infra/netns/test-network.ts";
import { RESERVED_FILES } from "../../functions/config/limits.ts";
import { CLI } from "../harness/cli.ts";

const CONCURRENCY = 250;
const PORT = 8080;
const ADDRESSES = Array.from({ length: CONCURRENCY }, (_, index) => `198.18.145.${index + 2}`);
const here = (file: string) => JSON.stringify(new URL(`../../functions/${file}`, import.meta.url).href);

let network: TestNetwork;
let dir: string;
let configPath: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "ees-open-files-"));
  network = await createTestNetwork({ name: "ees-nofile", subnetIndex: 145 });
  await network.addAddresses(ADDRESSES);
  const fleet = await network.startBackends();
  for (const address of ADDRESSES) await fleet.listen(address, PORT);
  configPath = join(dir, "config.yaml");
  await writeFile(
    configPath,
    stringify({
      checkConcurrency: CONCURRENCY,
      clusters: [{ name: "c" }],
      targets: [{ name: "web", cluster: "c", namespace: "n", service: "web", ports: [{ port: PORT }], sources: [{ static: ADDRESSES.map((address) => ({ address })) }], check: { http: {} } }],
    }),
  );
});

after(async () => {
  await network?.destroy();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Runs node with `args` under `ulimit -n files`; the exit code and output. */
async function underLimit(files: number, args: string[]) {
  const command = `ulimit -n ${files} && exec "$0" "$@"`;
  try {
    const { stdout, stderr } = await promisify(execFile)("bash", ["-c", command, process.execPath, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** Probes the config's one target as a sync would, loading it with this process's limit or (`unchecked`) none. */
const probeScript = (checked: boolean) => `
  import { openFilesLimit } from ${here("config/limits.ts")};
  import { loadConfig } from ${here("config/load.ts")};
  import { buildCheck } from ${here("health/build.ts")};
  import { probeAll, probeLimiter } from ${here("health/probe-all.ts")};
  const config = await loadConfig(${JSON.stringify(configPath)}, ${checked ? "{ openFiles: openFilesLimit() }" : "{}"});
  const target = config.targets[0];
  const backends = target.sources[0].static.map(({ address }) => ({ address, family: "IPv4", sources: ["test"] }));
  const check = await buildCheck(target.check, target.ports[0].port);
  const verdicts = await probeAll(backends, check, { limit: probeLimiter(config.checkConcurrency), signal: new AbortController().signal, recheckDelayMs: 0 });
  const reasons = {};
  for (const { reason } of verdicts.values()) reasons[reason] = (reasons[reason] ?? 0) + 1;
  console.log(JSON.stringify(reasons));
`;

describe("checkConcurrency within ulimit -n", () => {
  it("is refused by the CLI's sync at ulimit -n 100, naming the field and the value, and accepted by validate", async () => {
    const sync = await underLimit(100, [CLI, "sync", "--dry-run", "--config", configPath]);
    assert.equal(sync.code, 2, sync.stderr);
    assert.match(
      sync.stderr,
      new RegExp(`checkConcurrency: expected at most 0: ${CONCURRENCY} probes at once hold as many sockets, this process may open 100 files \\(ulimit -n\\), and ${RESERVED_FILES} are kept for other than probes, got ${CONCURRENCY}`),
    );
    const validate = await underLimit(100, [CLI, "validate", "--config", configPath]);
    assert.equal(validate.code, 0, validate.stderr);
  });

  it("spares the checker errors such a config would cause", async (t) => {
    const run = await underLimit(100, ["--input-type=module", "-e", probeScript(false)]);
    assert.equal(run.code, 0, run.stderr);
    const reasons = JSON.parse(run.stdout) as Record<string, number>;
    t.diagnostic(`verdicts at ulimit -n 100: ${run.stdout.trim()}`);
    assert.ok((reasons.CheckerError ?? 0) > CONCURRENCY / 2, run.stdout);
  });

  it(`loads and probes every backend at ulimit -n ${CONCURRENCY + RESERVED_FILES}`, async () => {
    const run = await underLimit(CONCURRENCY + RESERVED_FILES, ["--input-type=module", "-e", probeScript(true)]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), { Passed: CONCURRENCY });
  });
});
