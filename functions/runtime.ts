import type { Context } from "aws-lambda";
import { readParameter } from "./aws/stored-text.ts";
import { openFilesLimit, type RuntimeLimits } from "./config/limits.ts";
import { loadConfig, parseConfig } from "./config/load.ts";
import type { Config } from "./config/schema.ts";
import { EnvError, optionalEnv, requireEnv } from "./env.ts";
import { ClusterConnections } from "./kube/client.ts";

export interface Runtime {
  config: Config;
  connections: ClusterConnections;
}

let ready: Promise<Runtime> | undefined;

/** The functions' config and clients, made once per cold start. */
export function functionRuntime(): Promise<Runtime> {
  ready ??= loadFunctionConfig().then((config) => ({ config, connections: new ClusterConnections(config.clusters) }));
  // A config that failed to load is read again next time, not cached as broken.
  ready.catch(() => (ready = undefined));
  return ready;
}

/** The bundled file EES_CONFIG names, or the SSM parameter EES_CONFIG_PARAMETER names when set. */
async function loadFunctionConfig(): Promise<Config> {
  const limits = functionLimits();
  const parameter = optionalEnv("EES_CONFIG_PARAMETER");
  if (!parameter) return loadConfig(requireEnv("EES_CONFIG"), limits);
  const text = await readParameter(parameter);
  if (!text) throw new EnvError("EES_CONFIG_PARAMETER", `names SSM parameter ${parameter}, which is empty`);
  return parseConfig(text, `SSM parameter ${parameter}`, limits);
}

/** The sync function's timeout, schedule and alarms' metrics level as serverless.yml sets them, and this process's descriptor limit. */
function functionLimits(): RuntimeLimits {
  const metricsLevel = optionalEnv("EES_METRICS_LEVEL");
  return {
    syncTimeoutSeconds: secondsEnv("EES_SYNC_TIMEOUT_SECONDS"),
    scheduleIntervalSeconds: secondsEnv("EES_SYNC_INTERVAL_SECONDS"),
    ...(metricsLevel !== undefined && { metricsLevel }),
    openFiles: openFilesLimit(),
  };
}

function secondsEnv(name: string): number | undefined {
  const value = optionalEnv(name);
  if (value !== undefined && !/^[1-9]\d*$/.test(value)) throw new EnvError(name, `must be whole seconds, got ${JSON.stringify(value)}`);
  return value === undefined ? undefined : Number(value);
}

/** API Gateway answers 504 after 29 s, whatever the function's own timeout. */
export const API_GATEWAY_LIMIT_MS = 29_000;

/** When an invocation's run must be over (epoch ms): the time Lambda has left, capped by `capMs`. */
export function runDeadline(context: Pick<Context, "getRemainingTimeInMillis">, capMs = Number.POSITIVE_INFINITY): number {
  return Date.now() + Math.min(context.getRemainingTimeInMillis(), capMs);
}
