#!/usr/bin/env node
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { openFilesLimit } from "./config/limits.ts";
import { ConfigError, loadConfig } from "./config/load.ts";
import { runSync, UnknownTargetError } from "./engine/run.ts";
import { installationId, InstallationError } from "./env.ts";
import { ClusterConnections } from "./kube/client.ts";
import { formatTable } from "./report/table.ts";

const USAGE = `usage: external-endpoint-syncer sync --config FILE [--dry-run] [--target NAME]... [--installation NAME] [--json]
       external-endpoint-syncer validate --config FILE

  sync       discover, health-check and write the EndpointSlices and Endpoints of every target
  validate   check the config and print every problem, writing nothing

  --config FILE   the YAML config (a cluster entry without a kubeconfig uses KUBECONFIG or ~/.kube/config)
  --dry-run       print the plan, endpoint by endpoint, and write nothing
  --target NAME   only this target (repeatable); skips removing what left the config
  --installation NAME
                  who writes (default: EES_INSTALLATION, else "default"): the objects of another
                  installation are never changed or pruned, so name the deployment you act for
  --json          print the full report as JSON

exit codes: 0 all targets synced, 1 a target failed, 2 bad usage or config`;

/** Runs the command line; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        config: { type: "string" },
        "dry-run": { type: "boolean", default: false },
        target: { type: "string", multiple: true },
        json: { type: "boolean", default: false },
        installation: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const command = positionals[0];
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if ((command !== "sync" && command !== "validate") || positionals.length > 1 || !values.config) {
    console.error(USAGE);
    return 2;
  }

  try {
    // `sync` probes from this process, so its descriptor limit bounds checkConcurrency; `validate` runs nothing.
    const config = await loadConfig(values.config, command === "sync" ? { openFiles: openFilesLimit() } : {});
    if (command === "validate") {
      console.log(`${values.config}: valid, ${config.targets.length} target(s) in ${config.clusters.length} cluster(s)`);
      return 0;
    }
    const installation = installationId(values.installation);
    const report = await runSync(config, new ClusterConnections(config.clusters), { targets: values.target, dryRun: values["dry-run"], installation });
    console.log(values.json ? JSON.stringify(report, null, 2) : formatTable(report));
    return report.ok ? 0 : 1;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof UnknownTargetError || error instanceof InstallationError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
}

// Started as the command (package.json's bin, so `npx external-endpoint-syncer`), not imported.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
