import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import * as z from "zod";
import { parseYaml } from "../config/yaml.ts";
import { optionalEnv } from "../env.ts";
import { KubeConfig, newClusters, newContexts, newUsers } from "./client-node.ts";

/**
 * A kubeconfig that cannot be used. Its message names the cluster entry, where the kubeconfig came from and
 * what is wrong (a line and column, a field's path), never anything the kubeconfig holds: tokens and keys.
 */
export class KubeconfigError extends Error {
  constructor(cluster: string, where: string, problems: string[]) {
    super(`cluster ${cluster}: the kubeconfig from ${where} cannot be used: ${problems.join("; ")}`);
    this.name = "KubeconfigError";
  }
}

/** Where a kubeconfig's text came from, and how far it is trusted. */
export interface KubeconfigOrigin {
  cluster: string;
  /** `SSM parameter /ees/prod`, `file /home/me/.kube/config`: the only thing errors say of it. */
  where: string;
  /**
   * Written by someone other than whoever runs the syncer (kept in SSM, Secrets Manager or the config): its
   * plugins would run commands in the function, and a token-file or client certificate path would read the
   * function's own files and send them to the API server it names, so plugins need `allowAuthPlugins` and
   * credential paths are refused (a CA path is only trusted, never sent).
   */
  stored: boolean;
  allowAuthPlugins?: boolean | undefined;
}

const text = z.string({ error: "expected a string" }).min(1, { error: "expected a string" });
const optionalText = text.nullish();
// null where kubectl writes an empty list (`users: null`).
const list = <T extends z.ZodType>(item: T) => z.array(item, { error: "expected a list" }).nullish().transform((items) => items ?? []);

// The fields client-node reads (config_types.ts); kubeconfigs carry more (preferences, extensions), kept as they are.
const kubeconfigSchema = z.looseObject({
  clusters: list(
    z.looseObject({
      name: text,
      cluster: z.looseObject({
        server: text,
        "certificate-authority-data": optionalText,
        "certificate-authority": optionalText,
        "insecure-skip-tls-verify": z.boolean({ error: "expected true or false" }).nullish(),
        "tls-server-name": optionalText,
        "proxy-url": optionalText,
      }),
    }),
  ),
  users: list(
    z.looseObject({
      name: text,
      user: z
        .looseObject({
          token: optionalText,
          "token-file": optionalText,
          "client-certificate-data": optionalText,
          "client-certificate": optionalText,
          "client-key-data": optionalText,
          "client-key": optionalText,
          username: optionalText,
          password: optionalText,
          as: optionalText,
          exec: z.looseObject({ command: text }).nullish(),
          "auth-provider": z.looseObject({ name: text }).nullish(),
        })
        .nullish(),
    }),
  ),
  contexts: list(z.looseObject({ name: text, context: z.looseObject({ cluster: text, user: optionalText, namespace: optionalText }) })),
  // kubectl writes "" when none is set.
  "current-context": z.string({ error: "expected a string" }).nullish(),
});

type Parsed = z.output<typeof kubeconfigSchema>;

const PLUGINS = ["exec", "auth-provider"] as const;
const USER_FILES = ["token-file", "client-certificate", "client-key"] as const;

/** Parsed by us, checked, then handed to client-node as objects: its own parser's errors quote the text. */
export function kubeconfigFromText(source: string, origin: KubeconfigOrigin): KubeConfig {
  const fail = (problems: string[]) => new KubeconfigError(origin.cluster, origin.where, problems);
  const yaml = parseYaml(source);
  if (!yaml.ok) throw fail(yaml.problems.map((problem) => `not valid YAML: ${problem}`));
  if (typeof yaml.value !== "object" || yaml.value === null || Array.isArray(yaml.value)) throw fail(["not a YAML mapping"]);
  const result = kubeconfigSchema.safeParse(yaml.value);
  // Paths and the schema's messages only: never the value found there.
  if (!result.success) throw fail(result.error.issues.map((issue) => `${issue.path.map(String).join(".") || "(top level)"}: ${issue.message}`));
  const refused = origin.stored ? storedProblems(result.data, origin.allowAuthPlugins === true) : [];
  if (refused.length > 0) throw fail(refused);

  const config = new KubeConfig();
  try {
    // newUsers reads a token-file now: only a kubeconfig file (not a stored one) may name one.
    config.loadFromOptions({
      clusters: newClusters(result.data.clusters),
      users: newUsers(result.data.users),
      contexts: newContexts(result.data.contexts),
      currentContext: result.data["current-context"] || undefined,
    });
  } catch (error) {
    throw fail([`a user's token-file cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`]);
  }
  return config;
}

function storedProblems(config: Parsed, allowAuthPlugins: boolean): string[] {
  const problems: string[] = [];
  config.users.forEach(({ user }, index) => {
    for (const plugin of PLUGINS) {
      if (user?.[plugin] && !allowAuthPlugins) {
        problems.push(`users.${index}.user.${plugin}: a stored kubeconfig's plugins run commands in the syncer; set allowAuthPlugins: true on the cluster entry to allow them`);
      }
    }
    for (const field of USER_FILES) {
      if (user?.[field]) problems.push(`users.${index}.user.${field}: a stored kubeconfig must carry its credentials inline (token, client-certificate-data, client-key-data), not name the syncer's files`);
    }
  });
  return problems;
}

/** A kubeconfig file of the operator's own: plugins and paths (relative to the file) work, as with kubectl. */
export function kubeconfigFromFile(path: string, cluster: string): KubeConfig {
  const where = `file ${path}`;
  let source: string;
  try {
    source = readFileSync(path, "utf8");
  } catch (error) {
    throw new KubeconfigError(cluster, where, [`cannot read it (${(error as NodeJS.ErrnoException).code ?? "error"})`]);
  }
  const config = kubeconfigFromText(source, { cluster, where, stored: false });
  config.makePathsAbsolute(dirname(path));
  return config;
}

/** KUBECONFIG (a list of files, merged as client-node merges them), else ~/.kube/config, as kubectl looks. */
export function defaultKubeconfig(cluster: string): KubeConfig {
  const listed = optionalEnv("KUBECONFIG")?.split(delimiter).filter(Boolean) ?? [];
  const files = listed.length > 0 ? listed : [join(homedir(), ".kube", "config")];
  const [first, ...rest] = files.map((file) => kubeconfigFromFile(file, cluster));
  for (const more of rest) {
    try {
      first!.mergeConfig(more);
    } catch (error) {
      // "Duplicate cluster: NAME": names only.
      throw new KubeconfigError(cluster, `KUBECONFIG ${files.join(delimiter)}`, [(error as Error).message]);
    }
  }
  return first!;
}
