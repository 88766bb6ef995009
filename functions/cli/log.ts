import { Logger, type LogItem } from "@aws-lambda-powertools/logger";
import { optionalEnv } from "../env.ts";
import { LOG_KEYS } from "../observability.ts";
import type { LogLevel } from "./args.ts";

/** The functions' JSON log lines, every one on stderr: the CLI's stdout is its output (a table, JSON, YAML). */
class StderrLogger extends Logger {
  protected override printLog(_level: number, log: LogItem): void {
    log.prepareForPrint();
    process.stderr.write(`${JSON.stringify(log.getAttributes(), this.getJsonReplacer())}\n`);
  }
}

/**
 * `--log-level`, else POWERTOOLS_LOG_LEVEL as the functions read it, else warn: a clean run prints its output
 * alone, and failures and degraded targets also leave a line on stderr.
 */
export function cliLogger(level: LogLevel | undefined): Logger {
  const logLevel = level ?? (optionalEnv("POWERTOOLS_LOG_LEVEL") === undefined ? "warn" : undefined);
  return new StderrLogger({ ...LOG_KEYS, ...(logLevel && { logLevel }) });
}
