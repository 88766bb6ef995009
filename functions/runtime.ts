import { readParameter } from "./aws/stored-text.ts";
import { loadConfig, parseConfig } from "./config/load.ts";
import type { Config } from "./config/schema.ts";
import { EnvError, optionalEnv, requireEnv } from "./env.ts";
import { ClusterConnections } from "./kube/client.ts";
import type { RunReport } from "./report/report.ts";

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
  const parameter = optionalEnv("EES_CONFIG_PARAMETER");
  if (!parameter) return loadConfig(requireEnv("EES_CONFIG"));
  const text = await readParameter(parameter);
  if (!text) throw new EnvError("EES_CONFIG_PARAMETER", `names SSM parameter ${parameter}, which is empty`);
  return parseConfig(text, `SSM parameter ${parameter}`);
}

/** One line per target: what the functions return and log. */
export function summarize(report: RunReport) {
  return {
    ok: report.ok,
    dryRun: report.dryRun,
    durationMs: report.durationMs,
    targets: report.targets.map((target) => ({
      target: target.target,
      cluster: target.cluster,
      service: `${target.namespace}/${target.service}`,
      status: target.status,
      ready: target.endpoints.ready,
      notReady: target.endpoints.notReady,
      changes: target.changes.length,
      writes: target.writes,
      ...(target.error ? { error: target.error } : {}),
    })),
    pruned: report.pruned.flatMap((prune) => [
      ...prune.changes.map((change) => ({ cluster: prune.cluster, deleted: `${change.kind} ${change.namespace}/${change.name}` })),
      ...(prune.error ? [{ cluster: prune.cluster, error: prune.error }] : []),
    ]),
  };
}
