#!/usr/bin/env node
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { openFilesLimit } from "./config/limits.ts";
import { ConfigError, loadConfig } from "./config/load.ts";
import type { Config } from "./config/schema.ts";
import { runSync, UnknownTargetError } from "./engine/run.ts";
import { installationId, InstallationError } from "./env.ts";
import { ClusterConnections } from "./kube/client.ts";
import { clusterRbac, DEFAULT_SUBJECT, rbacYaml, type RbacSubject } from "./kube/rbac.ts";
import { formatTable } from "./report/table.ts";
import { VERSION } from "./version.ts";

const USAGE = `usage: external-endpoint-syncer sync --config FILE [--dry-run] [--target NAME]... [--installation NAME] [--json]
       external-endpoint-syncer validate --config FILE
       external-endpoint-syncer rbac --config FILE [--cluster NAME] [--group G | --user U | --service-account NS/NAME]
       external-endpoint-syncer --version

  sync       discover, health-check and write the EndpointSlices and Endpoints of every target
  validate   check the config and print every problem, writing nothing
  rbac       print the Kubernetes Roles and bindings the config needs, as YAML for kubectl apply

  --config FILE   the YAML config (a cluster entry without a kubeconfig uses KUBECONFIG or ~/.kube/config)
  --dry-run       print the plan, endpoint by endpoint, and write nothing
  --target NAME   only this target (repeatable); skips removing what left the config
  --installation NAME
                  who writes (default: EES_INSTALLATION, else "default"): the objects of another
                  installation are never changed or pruned, so name the deployment you act for
  --json          print the full report as JSON
  --cluster NAME  rbac: only this cluster entry's objects (default: every cluster's, each under its name)
  --group G, --user U, --service-account NS/NAME
                  rbac: whom the bindings grant to (default: the group ${DEFAULT_SUBJECT.name})
  --version       print the release and exit

exit codes: 0 all targets synced, 1 a target or prune failed or the run was cut short, 2 bad usage or config,
            3 degraded: a source failed or a guard held changes back (nothing failed)`;

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
        cluster: { type: "string" },
        group: { type: "string" },
        user: { type: "string" },
        "service-account": { type: "string" },
        help: { type: "boolean", short: "h", default: false },
        version: { type: "boolean", default: false },
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
  if (values.version) {
    console.log(`external-endpoint-syncer ${VERSION}`);
    return 0;
  }
  if (!["sync", "validate", "rbac"].includes(command ?? "") || positionals.length > 1 || !values.config) {
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
    if (command === "rbac") return printRbac(config, values);
    const installation = installationId(values.installation);
    const report = await runSync(config, new ClusterConnections(config.clusters), { targets: values.target, dryRun: values["dry-run"], installation });
    console.log(values.json ? JSON.stringify(report, null, 2) : formatTable(report));
    return !report.ok ? 1 : report.degraded ? 3 : 0;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof UnknownTargetError || error instanceof InstallationError) {
      console.error(error.message);
      return 2;
    }
    throw error;
  }
}

/** `rbac`: prints what the config needs in each cluster (or the one named), bound to the subject chosen. */
function printRbac(config: Config, values: { config?: string; cluster?: string; group?: string; user?: string; "service-account"?: string }): number {
  const chosen = [
    values.group !== undefined && ({ kind: "Group", name: values.group } as const),
    values.user !== undefined && ({ kind: "User", name: values.user } as const),
    values["service-account"] !== undefined && serviceAccount(values["service-account"]),
  ].filter((subject) => subject !== false);
  if (chosen.length > 1) return usageError("give at most one of --group, --user, --service-account");
  const subject: RbacSubject | string = chosen[0] ?? DEFAULT_SUBJECT;
  if (typeof subject === "string") return usageError(subject);
  if (subject.name === "") return usageError(`--${subject.kind === "Group" ? "group" : "user"}: expected a name, got ""`);
  const clusters = config.clusters.map((cluster) => cluster.name);
  if (values.cluster !== undefined && !clusters.includes(values.cluster)) {
    return usageError(`--cluster: no cluster named ${JSON.stringify(values.cluster)} in ${values.config} (have: ${clusters.join(", ")})`);
  }
  const bound = subject.kind === "ServiceAccount" ? `ServiceAccount ${subject.namespace}/${subject.name}` : `${subject.kind} ${subject.name}`;
  const output = (values.cluster !== undefined ? [values.cluster] : clusters).map((cluster) => {
    const documents = clusterRbac(config, cluster, subject);
    const header = [
      `external-endpoint-syncer RBAC for cluster ${JSON.stringify(cluster)} of ${values.config} (ownerId ${config.ownerId}, policy ${config.policy}), bound to ${bound}.`,
      "Apply to that cluster only; the namespaces must exist. Apply a config's RBAC before the config, and a narrower one only after the syncer has pruned under the wider.",
    ].join("\n");
    return rbacYaml(documents, header);
  });
  process.stdout.write(output.join(""));
  return 0;
}

/** "NS/NAME" as a ServiceAccount subject, or what is wrong with it. */
function serviceAccount(value: string): RbacSubject | string {
  const [namespace = "", name = "", ...rest] = value.split("/");
  const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  const dnsSubdomain = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
  if (rest.length > 0 || !dnsLabel.test(namespace) || !dnsSubdomain.test(name)) {
    return `--service-account: expected NAMESPACE/NAME (lower-case DNS names), got ${JSON.stringify(value)}`;
  }
  return { kind: "ServiceAccount", namespace, name };
}

function usageError(message: string): number {
  console.error(`${message}\n\n${USAGE}`);
  return 2;
}

// Started as the command (package.json's bin, so `npx external-endpoint-syncer`), not imported.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
