#!/usr/bin/env node
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseCommandLine, UsageError, type CommandArgs, type CommandSpec } from "./cli/args.ts";
import { MANAGER } from "./registry/labels.ts";
import { VERSION } from "./version.ts";

/** A command: its usage, and its code, loaded only when it runs, so `--help` and usage errors stay light. */
interface Command extends CommandSpec {
  run(args: CommandArgs): Promise<number>;
}

export const COMMANDS: Record<string, Command> = {
  sync: {
    synopsis: "--config FILE [--dry-run] [--target NAME]... [--installation NAME] [--kubeconfig FILE] [--context NAME] [-o table|json|yaml]",
    summary: "discover, health-check and write the EndpointSlices and Endpoints of every target",
    options: ["config", "dry-run", "target", "installation", "kubeconfig", "context", "output"],
    run: async (args) => (await import("./cli/sync.ts")).sync(args),
  },
  run: {
    synopsis: "--config FILE [--every DURATION] [--health-addr [HOST]:PORT] [--installation NAME] [--kubeconfig FILE] [--context NAME]",
    summary: "sync every interval in this process until SIGTERM or SIGINT (a VM, a container, a pod)",
    options: ["config", "every", "health-addr", "installation", "kubeconfig", "context"],
    run: async (args) => (await import("./cli/run.ts")).run(args),
  },
  status: {
    synopsis: "--config FILE [--target NAME]... [--installation NAME] [--kubeconfig FILE] [--context NAME] [-o table|json|yaml]",
    summary: "show, per backend, what the syncer remembers (health, streak, last reason, since, sources)\nand whether it is published ready; reads only",
    options: ["config", "target", "installation", "kubeconfig", "context", "output"],
    run: async (args) => (await import("./cli/status.ts")).status(args),
  },
  validate: {
    synopsis: "--config FILE",
    summary: "check the config and print every problem, writing nothing",
    options: ["config"],
    run: async ({ options }) => {
      const config = await (await import("./config/load.ts")).loadConfig(options.config!);
      console.log(`${options.config}: valid, ${config.targets.length} target(s) in ${config.clusters.length} cluster(s)`);
      return 0;
    },
  },
  rbac: {
    synopsis: "--config FILE [--cluster NAME] [--group G | --user U | --service-account NS/NAME]",
    summary: "print the Kubernetes Roles and bindings the config needs, as YAML for kubectl apply",
    options: ["config", "cluster", "group", "user", "service-account"],
    run: async (args) => (await import("./cli/rbac.ts")).rbac(args),
  },
};

const NAME = "external-endpoint-syncer";

export const USAGE = `usage: ${Object.entries(COMMANDS)
  .map(([name, command]) => `${NAME} ${name} ${command.synopsis}`)
  .join(`\n       `)}
       ${NAME} --version

${Object.entries(COMMANDS)
  .map(([name, command]) => `  ${name.padEnd(9)}  ${command.summary.replaceAll("\n", `\n${" ".repeat(13)}`)}`)
  .join("\n")}

  --config FILE   the YAML config (a cluster entry without a kubeconfig uses KUBECONFIG or ~/.kube/config)
  --dry-run       print the plan, endpoint by endpoint, and write nothing
  --target NAME   only this target (repeatable); sync then skips removing what left the config
  --installation NAME
                  who writes (default: EES_INSTALLATION, else "default"): the objects of another
                  installation are never changed or pruned, so name the deployment you act for
  --kubeconfig FILE, --context NAME
                  for a config with one cluster entry: reach its cluster through this kubeconfig file
                  (its current context unless --context names one), or this context of its own kubeconfig
  -o, --output table|json|yaml
                  a table (the default), or the full report as JSON or YAML
  --every DURATION
                  run: the interval, as 30s, 1m or 1m30s (default: the config's syncIntervalSeconds)
  --health-addr [HOST]:PORT
                  run: answer GET /healthz there (200 while runs keep finishing, else 503), as :8080
  --cluster NAME  rbac: only this cluster entry's objects (default: every cluster's, each under its name)
  --group G, --user U, --service-account NS/NAME
                  rbac: whom the bindings grant to (default: the group ${MANAGER})
  --log-level debug|info|warn|error|silent
                  any command: JSON log lines on stderr (default: POWERTOOLS_LOG_LEVEL, else warn)
  --version       print the release and exit

exit codes: 0 every target synced (status: read), 1 a target or prune failed or the run was cut short
            (status: a target could not be read), 2 bad usage or config, 3 degraded: a source failed or a
            guard held changes back (nothing failed)`;

/** Runs the command line; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const line = parseCommandLine(argv, COMMANDS);
  if (line.kind === "help") {
    console.log(USAGE);
    return 0;
  }
  if (line.kind === "version") {
    console.log(`${NAME} ${VERSION}`);
    return 0;
  }
  if (line.kind === "usage") return usageError(line.reason);
  try {
    return await COMMANDS[line.command]!.run(line);
  } catch (error) {
    if (error instanceof UsageError) return usageError(error.message);
    // A config that cannot run, an unknown --target, a bad --installation: the message says it all. Told by
    // name, as their classes live in modules loaded with the command.
    if (["ConfigError", "UnknownTargetError", "InstallationError"].includes((error as Error).name)) {
      console.error((error as Error).message);
      return 2;
    }
    throw error;
  }
}

function usageError(reason: string): number {
  console.error(`${reason}\n\n${USAGE}`);
  return 2;
}

// Started as the command (package.json's bin, so `npx external-endpoint-syncer`), not imported.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await main(process.argv.slice(2));
}
