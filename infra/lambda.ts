// What a Lambda can run, checked when serverless packages (infra/lambda-checks.cjs and infra/schedule.cjs):
// the bundled config names no cluster the function cannot reach and no file the bundle leaves out, and its
// syncIntervalSeconds is a schedule EventBridge can express.
import { readFileSync, statSync } from "node:fs";
import { dirname, isAbsolute, matchesGlob, relative, resolve, sep } from "node:path";
import { loadConfig } from "../functions/config/load.ts";
import { parseYaml } from "../functions/config/yaml.ts";
import type { Config } from "../functions/config/schema.ts";

/** A bundle a Lambda could not run, or a schedule it could not have; the message says what to do instead. */
export class PackageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PackageError";
    // The framework prints a variable resolver's error with its stack, which tells the reader of a refusal nothing.
    this.stack = `${this.name}: ${message}`;
  }
}

/** Where a file the function reads stands against the bundle. */
export type Placement = { in: true } | { in: false; why: string };

/** The files serverless bundles; deployed, `root` is the function's working directory. */
export interface Bundle {
  root: string;
  /** Where an absolute path, as the function will look for it, stands against the bundle. */
  place(path: string): Placement;
}

/** The files under `root` matching `package.patterns` (a `!pattern` leaves out what earlier ones took in, as serverless reads them). */
export function bundle(root: string, patterns: readonly string[]): Bundle {
  const place = (path: string): Placement => {
    const inRoot = relative(root, path);
    if (inRoot.startsWith("..") || isAbsolute(inRoot)) return { in: false, why: `it is outside the service folder ${root}, and so not in the bundle` };
    const posix = inRoot.split(sep).join("/");
    let matched = false;
    for (const pattern of patterns) {
      if (pattern.startsWith("!")) matched &&= !matchesGlob(posix, pattern.slice(1));
      else matched ||= matchesGlob(posix, pattern);
    }
    if (!matched) return { in: false, why: `package.patterns in serverless.yml does not bundle ${posix}` };
    if (!statSync(path, { throwIfNoEntry: false })?.isFile()) return { in: false, why: `${posix} is no file` };
    return { in: true };
  };
  return { root, place };
}

const REACH_IT = "name it by eks: { name, region }, or keep its kubeconfig in kubeconfigParameter (SSM) or kubeconfigSecret (Secrets Manager)";

/**
 * Every way the config (as `loadConfig` read it: its paths made absolute) would fail on Lambda, one line each,
 * naming the entry, the field and the value, and what to do instead.
 */
export function lambdaProblems(config: Config, files: Bundle): string[] {
  const problems: string[] = [];
  const needsFile = (field: string, path: string, instead: string): boolean => {
    const placed = files.place(path);
    if (!placed.in) problems.push(`${field}: ${path}: ${placed.why}; ${instead}`);
    return placed.in;
  };
  config.clusters.forEach((cluster, index) => {
    const entry = `clusters[${index}] (${cluster.name})`;
    if (cluster.inCluster) {
      problems.push(`${entry}.inCluster: true: a Lambda runs in no cluster; ${REACH_IT} (inCluster is for a syncer running in a pod)`);
    } else if (cluster.kubeconfig !== undefined) {
      if (needsFile(`${entry}.kubeconfig`, cluster.kubeconfig, `put the file in the service folder and add it to package.patterns, or ${REACH_IT}`)) {
        problems.push(...kubeconfigProblems(`${entry}.kubeconfig: ${cluster.kubeconfig}`, cluster.kubeconfig, files));
      }
    } else if (!cluster.kubeconfigData && !cluster.eks && !cluster.kubeconfigParameter && !cluster.kubeconfigSecret) {
      problems.push(`${entry}: names no way to reach the cluster, so it would read KUBECONFIG or ~/.kube/config, which a Lambda does not have; ${REACH_IT}`);
    }
  });
  config.targets.forEach((target, index) => {
    const entry = `targets[${index}] (${target.name})`;
    target.sources.forEach((source, sourceIndex) => {
      if (source.file) needsFile(`${entry}.sources[${sourceIndex}].file.path`, source.file.path, "put the file in the service folder and add it to package.patterns");
    });
    for (const [field, path] of tlsFiles(target.check, `${entry}.check`)) {
      needsFile(field, path, "put the file in the service folder and add it to package.patterns, or give its PEM text (caPem, certPem, keyPem)");
    }
  });
  return problems;
}

type Loose = Record<string, unknown>;
const records = (value: unknown): Loose[] => (Array.isArray(value) ? value.filter((item): item is Loose => typeof item === "object" && item !== null) : []);
const field = (record: Loose | undefined, key: string) => (typeof record?.[key] === "string" ? record[key] : undefined);

/**
 * What a bundled kubeconfig file needs besides itself: the files it names, which the bundle must hold too, and
 * no plugin command a Lambda lacks (`aws eks get-token`, as `aws eks update-kubeconfig` writes, above all).
 * As client-node reads them: CA and client certificate paths relative to the kubeconfig, a token-file and a
 * command's path relative to the working directory (the bundle's root). A kubeconfig that does not parse is
 * left to the functions, which say what is wrong with it.
 */
function kubeconfigProblems(at: string, path: string, files: Bundle): string[] {
  const parsed = parseYaml(readFileSync(path, "utf8"));
  if (!parsed.ok || typeof parsed.value !== "object" || parsed.value === null) return [];
  const kubeconfig = parsed.value as Loose;
  const base = dirname(path);
  const needs: [string, string][] = [];
  records(kubeconfig.clusters).forEach((entry, index) => {
    const file = field(entry.cluster as Loose | undefined, "certificate-authority");
    if (file !== undefined) needs.push([`clusters[${index}].cluster.certificate-authority`, resolve(base, file)]);
  });
  const problems: string[] = [];
  records(kubeconfig.users).forEach((entry, index) => {
    const user = entry.user as Loose | undefined;
    for (const key of ["client-certificate", "client-key"]) {
      const file = field(user, key);
      if (file !== undefined) needs.push([`users[${index}].user.${key}`, resolve(base, file)]);
    }
    const token = field(user, "token-file");
    if (token !== undefined) needs.push([`users[${index}].user.token-file`, resolve(files.root, token)]);
    const command = field(user?.exec as Loose | undefined, "command");
    if (command === undefined || command === "node") return;
    if (command.includes("/")) needs.push([`users[${index}].user.exec.command`, resolve(files.root, command)]);
    else problems.push(`${at}: users[${index}].user.exec.command: ${command}: a Lambda has no such command (node is the one on its PATH); for EKS, ${REACH_IT}`);
  });
  for (const [inside, file] of needs) {
    const placed = files.place(file);
    if (!placed.in) problems.push(`${at}: ${inside}: ${file}: ${placed.why}; put the file in the service folder and add it to package.patterns`);
  }
  return problems;
}

const TLS_FILES = new Set(["caFile", "certFile", "keyFile"]);

/** A check's CA, certificate and key files, at any depth (a list of checks, a kind's `tls`), with their paths. */
function tlsFiles(value: unknown, at: string): [string, string][] {
  if (Array.isArray(value)) return value.flatMap((item, index) => tlsFiles(item, `${at}[${index}]`));
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([key, inner]): [string, string][] =>
    TLS_FILES.has(key) && typeof inner === "string" ? [[`${at}.${key}`, inner]] : tlsFiles(inner, `${at}.${key}`),
  );
}

/**
 * The sync function's EventBridge schedule for the config's syncIntervalSeconds: the one setting behind both
 * the schedule and the streaks' expiry (3 intervals). EventBridge rates are whole minutes.
 */
export function scheduleRate(syncIntervalSeconds: number, source: string): string {
  if (syncIntervalSeconds % 60 !== 0) {
    const below = Math.max(60, Math.floor(syncIntervalSeconds / 60) * 60);
    const above = Math.ceil(syncIntervalSeconds / 60) * 60;
    throw new PackageError(
      `${source}: syncIntervalSeconds: ${syncIntervalSeconds}: the sync function's schedule (an EventBridge rate) runs in whole minutes; set it to a multiple of 60 (${below === above ? below : `${below} or ${above}`})`,
    );
  }
  const minutes = syncIntervalSeconds / 60;
  return minutes === 1 ? "rate(1 minute)" : `rate(${minutes} minutes)`;
}

/** The sync function's schedule, from the config file it reads: the rate, and the interval it stands for (EES_SYNC_INTERVAL_SECONDS). */
export async function syncSchedule(root: string, configFile: string): Promise<{ rate: string; seconds: string }> {
  const { syncIntervalSeconds } = await loadConfig(resolve(root, configFile));
  return { rate: scheduleRate(syncIntervalSeconds, configFile), seconds: String(syncIntervalSeconds) };
}

const NAME_A_CONFIG = "name a config file inside the service folder with --param configFile=PATH (and leave EES_CONFIG unset: it overrides configFile)";

/** Lambda's limit on open files (RLIMIT_NOFILE), which bounds checkConcurrency. */
export const LAMBDA_OPEN_FILES = 1024;

/**
 * Refuses a package whose functions could not run: the config they read (`configFile`, relative to `root` as
 * EES_CONFIG is to the function's working directory) must be in the bundle, pass the checks the functions make
 * when they load it (within the sync function's timeout and Lambda's open files; a ConfigError otherwise), and
 * name nothing a Lambda cannot use.
 */
export async function checkPackage(root: string, patterns: readonly string[], configFile: string, syncTimeoutSeconds: number): Promise<void> {
  const files = bundle(root, patterns);
  const path = resolve(root, configFile);
  const placed = files.place(path);
  if (!placed.in) throw new PackageError(`EES_CONFIG: ${configFile}: ${placed.why}; ${NAME_A_CONFIG}`);
  const problems = lambdaProblems(await loadConfig(path, { syncTimeoutSeconds, openFiles: LAMBDA_OPEN_FILES }), files);
  if (problems.length > 0) {
    throw new PackageError(`${configFile} names what a Lambda cannot use:\n${problems.map((problem) => `  - ${problem}`).join("\n")}`);
  }
}
