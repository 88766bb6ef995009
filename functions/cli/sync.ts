import { openFilesLimit } from "../config/limits.ts";
import { loadConfig } from "../config/load.ts";
import { runSync } from "../engine/run.ts";
import { installationId } from "../env.ts";
import { ClusterConnections } from "../kube/client.ts";
import { logRun } from "../observability.ts";
import { formatTable } from "../report/table.ts";
import { withAccess } from "./access.ts";
import type { CommandArgs } from "./args.ts";
import { cliLogger } from "./log.ts";
import { printOutput } from "./output.ts";

/** `sync`: one run over the config's targets (or those named); 0 synced, 1 failed or cut short, 3 degraded. */
export async function sync({ options, output, logLevel }: CommandArgs): Promise<number> {
  const path = options.config!;
  // This process probes, so its descriptor limit bounds checkConcurrency.
  const config = withAccess(await loadConfig(path, { openFiles: openFilesLimit() }), options, path);
  const installation = installationId(options.installation);
  const report = await runSync(config, new ClusterConnections(config.clusters), { targets: options.target, dryRun: options["dry-run"], installation });
  logRun(report, cliLogger(logLevel));
  printOutput(output, report, () => formatTable(report));
  return !report.ok ? 1 : report.degraded ? 3 : 0;
}
