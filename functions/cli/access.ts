import { homedir } from "node:os";
import { resolve } from "node:path";
import { describeIssues } from "../config/issues.ts";
import type { Config } from "../config/schema.ts";
import { clusterSchema } from "../config/schema/clusters.ts";
import { UsageError } from "./args.ts";

/**
 * kubectl's `--kubeconfig FILE` and `--context NAME`, for a config with one cluster entry. `--kubeconfig` takes
 * the place of how that entry reaches its cluster (a file of the operator's own, read as a `kubeconfig:` path
 * is: its plugins and credential paths work), with the file's current context unless `--context` names one;
 * `--context` alone picks a context of the entry's own kubeconfig. The result is checked by the config's schema.
 */
export function withAccess(config: Config, flags: { kubeconfig?: string | undefined; context?: string | undefined }, source: string): Config {
  if (flags.kubeconfig === undefined && flags.context === undefined) return config;
  const given = [flags.kubeconfig !== undefined && "--kubeconfig", flags.context !== undefined && "--context"].filter(Boolean).join(" and ");
  const [entry, ...others] = config.clusters;
  if (entry === undefined || others.length > 0) {
    const names = config.clusters.map((cluster) => cluster.name).join(", ");
    throw new UsageError(`${given}: for a config with one cluster entry; ${source} has ${config.clusters.length} (${names})`);
  }
  const access =
    flags.kubeconfig !== undefined
      ? { name: entry.name, kubeconfig: flags.kubeconfig && expandPath(flags.kubeconfig), ...(flags.context !== undefined && { context: flags.context }) }
      : { ...entry, context: flags.context };
  const checked = clusterSchema.safeParse(access);
  if (!checked.success) {
    throw new UsageError(`${given} for cluster entry ${entry.name} of ${source}: ${describeIssues(checked.error, access).join("; ")}`);
  }
  return { ...config, clusters: [checked.data] };
}

/** `~` as a shell expands it (it leaves `--kubeconfig=~/x` alone), and relative to where the command runs. */
function expandPath(path: string): string {
  return path === "~" || path.startsWith("~/") ? resolve(homedir(), path.slice(2)) : resolve(path);
}
