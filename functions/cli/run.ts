import { openFilesLimit } from "../config/limits.ts";
import { loadConfig } from "../config/load.ts";
import { installationId } from "../env.ts";
import { parseEvery, parseListenAddress, runLoop, stopOnSignals } from "../loop.ts";
import { logger } from "../observability.ts";
import { withAccess } from "./access.ts";
import { UsageError, type CommandArgs } from "./args.ts";

/** `run`: syncs every `--every` (else the config's interval) until SIGTERM or SIGINT; its logs are its output, on stdout. */
export async function run({ options, logLevel }: CommandArgs): Promise<number> {
  const every = options.every === undefined ? undefined : parseEvery(options.every);
  if (typeof every === "string") throw new UsageError(every);
  const liveness = options["health-addr"] === undefined ? undefined : parseListenAddress(options["health-addr"]);
  if (typeof liveness === "string") throw new UsageError(liveness);
  const path = options.config!;
  // This process probes, so its descriptor limit bounds checkConcurrency; fast detection must end before the next tick.
  const config = withAccess(await loadConfig(path, { openFiles: openFilesLimit(), loopIntervalSeconds: every }), options, path);
  const installation = installationId(options.installation);
  if (logLevel) logger.setLogLevel(logLevel);
  await runLoop({ ...config, syncIntervalSeconds: every ?? config.syncIntervalSeconds }, { installation, liveness, signal: stopOnSignals() });
  return 0;
}
