// A real, throwaway Kubernetes control plane on loopback: etcd, kube-apiserver and a
// kube-controller-manager running only the controllers whose behaviour the syncer depends on.
//
//   npx node infra/control-plane/local-cluster.ts up [--dir DIR] [--user NAME=GROUP,GROUP ...]
import { spawn, type ChildProcess } from "node:child_process";
import { generateKeyPairSync, randomBytes } from "node:crypto";
import { closeSync, openSync, rmSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import https from "node:https";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import * as k8s from "@kubernetes/client-node";
import YAML from "yaml";
import type { RbacObject } from "../../functions/kube/rbac.ts";

export interface ClusterUser {
  name: string;
  groups: string[];
}

export interface LocalCluster {
  dir: string;
  server: string;
  adminKubeconfig: string;
  auditLogPath: string;
  kubeconfigFor(user: string): string;
  stop(): Promise<void>;
}

const BUILD_SCRIPT = fileURLToPath(new URL("./build.sh", import.meta.url));
const READY_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;
const POLL_INTERVAL_MS = 100;
const LOG_TAIL_LINES = 40;
const ADMIN: ClusterUser = { name: "local-cluster-admin", groups: ["system:masters"] };
const PROBE_NAME = "local-cluster-readiness-probe";
const PROBE_NAMESPACE = "default";
const MIRRORED_SLICES_OF_PROBE =
  `kubernetes.io/service-name=${PROBE_NAME},endpointslice.kubernetes.io/managed-by=endpointslicemirroring-controller.k8s.io`;

// Control-plane processes must not outlive the test process. This handler covers a normal exit;
// setpriv's parent-death signal (see startProcess) covers the parent being killed. It also removes
// etcd's data, which is over 100 MB (a preallocated WAL) per cluster.
const liveProcesses = new Set<ChildProcess>();
const liveEtcdDataDirs = new Set<string>();
process.on("exit", () => {
  for (const child of liveProcesses) child.kill("SIGKILL");
  for (const dataDir of liveEtcdDataDirs) rmSync(dataDir, { recursive: true, force: true });
});

export async function ensureControlPlaneBinaries(): Promise<string> {
  // Build progress goes to our stderr: a cold build takes minutes and should not look hung.
  const build = spawn("bash", [BUILD_SCRIPT], { stdio: ["ignore", "pipe", "inherit"] });
  let stdout = "";
  build.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
  // "close", not "exit": only then has all of its stdout been read.
  const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    build.once("close", (exitCode, exitSignal) => resolve({ code: exitCode, signal: exitSignal }));
    build.once("error", () => resolve({ code: build.exitCode, signal: build.signalCode }));
  });
  if (code !== 0) throw new Error(`${BUILD_SCRIPT} failed (code ${code}, signal ${signal}); its output is above`);
  const binDir = stdout.trim().split("\n").at(-1);
  if (!binDir) throw new Error(`${BUILD_SCRIPT} printed no bin directory`);
  return binDir;
}

/** An etcd several local clusters share, each under its own key prefix: one etcd instead of one per cluster. */
export interface SharedEtcd {
  url: string;
  stop(): Promise<void>;
}

export async function startSharedEtcd(): Promise<SharedEtcd> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "ees-etcd-"));
  const etcd = await startEtcd(dir, await ensureControlPlaneBinaries());
  let stopped: Promise<void> | undefined;
  return { url: etcd.url, stop: () => (stopped ??= etcd.stop().then(() => rm(dir, { recursive: true, force: true }))) };
}

/**
 * `tokenWebhook`: a URL the API server also asks about bearer tokens it does not know (a webhook token
 * authenticator, as EKS's aws-iam-authenticator is), after the users' own tokens.
 * `etcd`: keep the cluster in this shared etcd under `prefix` (unique per cluster) rather than start its own.
 */
export async function startLocalCluster(
  options: { dir?: string; users?: ClusterUser[]; tokenWebhook?: string; etcd?: { shared: SharedEtcd; prefix: string } } = {},
): Promise<LocalCluster> {
  const users = options.users ?? [];
  const dir = options.dir ? path.resolve(options.dir) : await mkdtemp(path.join(os.tmpdir(), "ees-cluster-"));
  await mkdir(path.join(dir, "kubeconfigs"), { recursive: true });
  const binDir = await ensureControlPlaneBinaries();
  const [apiServerPort] = await freeLoopbackPorts(1);
  const server = `https://127.0.0.1:${apiServerPort}`;
  const auditLogPath = path.join(dir, "audit.log");
  const certDir = path.join(dir, "apiserver-certs");

  const tokens = new Map([ADMIN, ...users].map((user) => [user.name, randomBytes(24).toString("hex")]));
  const adminToken = tokens.get(ADMIN.name)!;
  await writeFile(
    path.join(dir, "tokens.csv"),
    [ADMIN, ...users].map((user) => `${tokens.get(user.name)},${user.name},${user.name},"${user.groups.join(",")}"\n`).join(""),
  );
  const serviceAccountKeys = generateKeyPairSync("rsa", {
    modulusLength: 2048,
    publicKeyEncoding: { type: "spki", format: "pem" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  });
  await writeFile(path.join(dir, "service-account.pub"), serviceAccountKeys.publicKey);
  await writeFile(path.join(dir, "service-account.key"), serviceAccountKeys.privateKey, { mode: 0o600 });
  // Exactly one audit event per request (its ResponseComplete), so tests can count requests directly.
  await writeFile(
    path.join(dir, "audit-policy.yaml"),
    YAML.stringify({ apiVersion: "audit.k8s.io/v1", kind: "Policy", omitStages: ["RequestReceived", "ResponseStarted"], rules: [{ level: "Metadata" }] }),
  );

  const webhookFlags: string[] = [];
  if (options.tokenWebhook) {
    const webhookConfig = path.join(dir, "token-webhook.kubeconfig");
    await writeFile(
      webhookConfig,
      YAML.stringify({
        apiVersion: "v1",
        kind: "Config",
        clusters: [{ name: "token-webhook", cluster: { server: options.tokenWebhook } }],
        users: [{ name: "kube-apiserver", user: {} }],
        contexts: [{ name: "token-webhook", context: { cluster: "token-webhook", user: "kube-apiserver" } }],
        "current-context": "token-webhook",
      }),
    );
    webhookFlags.push(`--authentication-token-webhook-config-file=${webhookConfig}`, "--authentication-token-webhook-version=v1");
  }

  const started: ManagedProcess[] = [];
  let ownEtcd: Etcd | undefined;
  const stopAll = async () => {
    // etcd last: an API server that loses etcd first spends its whole grace period retrying.
    await Promise.all(started.map(stopProcess));
    await ownEtcd?.stop();
  };
  try {
    // The shared etcd is not watched: if it dies, the API server's readiness times out with its log's tail.
    const watchedEtcd: ManagedProcess[] = [];
    if (!options.etcd) {
      ownEtcd = await startEtcd(dir, binDir);
      watchedEtcd.push(ownEtcd.process);
    }
    const etcdFlags = options.etcd ? [`--etcd-servers=${options.etcd.shared.url}`, `--etcd-prefix=${options.etcd.prefix}`] : [`--etcd-servers=${ownEtcd!.url}`];

    const apiServer = startProcess("kube-apiserver", path.join(binDir, "kube-apiserver"), path.join(dir, "kube-apiserver.log"), [
      ...etcdFlags,
      "--bind-address=127.0.0.1",
      `--secure-port=${apiServerPort}`,
      `--cert-dir=${certDir}`,
      `--token-auth-file=${path.join(dir, "tokens.csv")}`,
      "--authorization-mode=RBAC",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${path.join(dir, "service-account.pub")}`,
      `--service-account-signing-key-file=${path.join(dir, "service-account.key")}`,
      "--service-cluster-ip-range=10.96.0.0/16",
      // Nothing here should rewrite the default/kubernetes Endpoints or need service-account tokens.
      "--endpoint-reconciler-type=none",
      "--disable-admission-plugins=ServiceAccount",
      `--audit-policy-file=${path.join(dir, "audit-policy.yaml")}`,
      `--audit-log-path=${auditLogPath}`,
      // Events are written inside the request's handler, so they are in the log once a (small) response arrives.
      "--audit-log-mode=blocking",
      ...webhookFlags,
    ]);
    started.push(apiServer);
    await waitUntil("kube-apiserver /readyz", [...watchedEtcd, apiServer], apiServer, async () => {
      const { status, body } = await getInsecure(`${server}/readyz`, adminToken);
      return status === 200 && body.trim() === "ok";
    });

    // The API server's self-signed certificate (written into --cert-dir) includes its CA and names 127.0.0.1.
    const caFile = path.join(certDir, "apiserver.crt");
    const kubeconfigPaths = new Map<string, string>();
    const adminKubeconfig = path.join(dir, "admin.kubeconfig");
    await writeKubeconfig(adminKubeconfig, server, caFile, ADMIN.name, adminToken);
    for (const user of users) {
      const file = path.join(dir, "kubeconfigs", `${user.name.replace(/[^A-Za-z0-9._-]/g, "_")}.kubeconfig`);
      await writeKubeconfig(file, server, caFile, user.name, tokens.get(user.name)!);
      kubeconfigPaths.set(user.name, file);
    }

    const controllerManager = startProcess(
      "kube-controller-manager",
      path.join(binDir, "kube-controller-manager"),
      path.join(dir, "kube-controller-manager.log"),
      [
        `--kubeconfig=${adminKubeconfig}`,
        "--controllers=endpointslice-mirroring-controller,garbage-collector-controller,namespace-controller",
        "--leader-elect=false",
        // No serving endpoint: readiness is proven below by the controller doing its job.
        "--secure-port=0",
      ],
    );
    started.push(controllerManager);
    await waitForEndpointSliceMirroring(adminKubeconfig, [...watchedEtcd, apiServer, controllerManager], controllerManager);

    let stopped: Promise<void> | undefined;
    return {
      dir,
      server,
      adminKubeconfig,
      auditLogPath,
      kubeconfigFor(user) {
        const file = kubeconfigPaths.get(user);
        if (!file) throw new Error(`no user "${user}" in this cluster; users: ${[...kubeconfigPaths.keys()].join(", ") || "none"}`);
        return file;
      },
      stop() {
        stopped ??= stopAll();
        return stopped;
      },
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Creates the namespaces that are missing. */
export async function createNamespaces(adminKubeconfig: string, namespaces: string[]): Promise<void> {
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(adminKubeconfig);
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  for (const namespace of namespaces) await ignoreAlreadyExists(core.createNamespace({ body: { metadata: { name: namespace } } }));
}

/**
 * Creates or replaces RBAC objects (as functions/kube/rbac.ts derives them), then returns once the API server's
 * authorizer grants every verb of every bound rule.
 */
export async function applyRbac(adminKubeconfig: string, objects: RbacObject[]): Promise<void> {
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(adminKubeconfig);
  const client = k8s.KubernetesObjectApi.makeApiClient(kubeConfig);
  const authorization = kubeConfig.makeApiClient(k8s.AuthorizationV1Api);
  for (const object of objects) {
    if (!(await ignoreAlreadyExists(client.create(object)))) await client.replace(object);
  }

  // RBAC reaches the authorizer through a watch; callers should not race it with their first request.
  const checks: k8s.V1SubjectAccessReviewSpec[] = [];
  for (const binding of objects) {
    if (binding.kind !== "RoleBinding" && binding.kind !== "ClusterRoleBinding") continue;
    const role = objects.find(
      (object) => object.kind === binding.roleRef.kind && object.metadata?.name === binding.roleRef.name && object.metadata?.namespace === binding.metadata?.namespace,
    );
    const rules = role && "rules" in role ? (role.rules ?? []) : [];
    for (const subject of binding.subjects ?? []) {
      const who =
        subject.kind === "Group"
          ? { user: "rbac-propagation-check", groups: [subject.name] }
          : { user: subject.kind === "ServiceAccount" ? `system:serviceaccount:${subject.namespace}:${subject.name}` : subject.name };
      for (const rule of rules) {
        for (const verb of rule.verbs) {
          const resourceAttributes = { verb, group: rule.apiGroups?.[0], resource: rule.resources?.[0], name: rule.resourceNames?.[0], namespace: binding.metadata?.namespace };
          checks.push({ ...who, resourceAttributes });
        }
      }
    }
  }
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (const spec of checks) {
    while (!(await authorization.createSubjectAccessReview({ body: { spec } })).status?.allowed) {
      if (Date.now() > deadline) throw new Error(`RBAC applied still denies ${JSON.stringify(spec)}`);
      await sleep(POLL_INTERVAL_MS);
    }
  }
}

interface Etcd {
  url: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** A single-member etcd with its data in `dir`; stop removes the data. */
async function startEtcd(dir: string, binDir: string): Promise<Etcd> {
  const dataDir = path.join(dir, "etcd-data");
  // A data dir from an earlier run would carry its old cluster and peer URLs.
  await rm(dataDir, { recursive: true, force: true });
  liveEtcdDataDirs.add(dataDir);
  const [clientPort, peerPort] = await freeLoopbackPorts(2);
  const url = `http://127.0.0.1:${clientPort}`;
  const etcd = startProcess("etcd", path.join(binDir, "etcd"), path.join(dir, "etcd.log"), [
    "--name=local",
    `--data-dir=${dataDir}`,
    `--listen-client-urls=${url}`,
    `--advertise-client-urls=${url}`,
    `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-cluster=local=http://127.0.0.1:${peerPort}`,
    // Throwaway data: durability only slows the tests down.
    "--unsafe-no-fsync",
  ]);
  const stop = async () => {
    await stopProcess(etcd);
    await rm(dataDir, { recursive: true, force: true });
    liveEtcdDataDirs.delete(dataDir);
  };
  try {
    await waitUntil("etcd to be healthy", [etcd], etcd, async () => {
      const response = await fetch(`${url}/health`);
      return ((await response.json()) as { health?: string }).health === "true";
    });
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, process: etcd, stop };
}

interface ManagedProcess {
  name: string;
  logPath: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startProcess(name: string, binary: string, logPath: string, args: string[]): ManagedProcess {
  const log = openSync(logPath, "a");
  // setpriv makes the kernel SIGKILL the process when its parent dies, even if the parent is SIGKILLed.
  const child = spawn("setpriv", ["--pdeathsig", "KILL", binary, ...args], { stdio: ["ignore", log, log] });
  closeSync(log);
  // Only our own waits keep the event loop alive, so a test that forgets stop() still ends (and the exit handler cleans up).
  child.unref();
  liveProcesses.add(child);
  const exited = exitOf(child);
  void exited.then(() => liveProcesses.delete(child));
  return { name, logPath, child, exited };
}

async function stopProcess(managed: ManagedProcess): Promise<void> {
  if (hasExited(managed.child)) return;
  managed.child.ref();
  managed.child.kill("SIGTERM");
  const killTimer = setTimeout(() => managed.child.kill("SIGKILL"), STOP_GRACE_MS);
  await managed.exited;
  clearTimeout(killTimer);
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
    // A failed spawn emits only "error".
    child.once("error", () => resolve({ code: child.exitCode, signal: child.signalCode }));
  });
}

async function waitUntil(what: string, watched: ManagedProcess[], blamedOnTimeout: ManagedProcess, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let lastError: unknown;
  for (;;) {
    for (const managed of watched) {
      if (hasExited(managed.child)) {
        const { code, signal } = await managed.exited;
        throw new Error(`${managed.name} exited (code ${code}, signal ${signal}) while waiting for ${what}; ${await logTail(managed)}`);
      }
    }
    try {
      if (await check()) return;
      lastError = undefined;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      const cause = lastError ? ` (last attempt: ${lastError instanceof Error ? lastError.message : String(lastError)})` : "";
      throw new Error(`timed out after ${READY_TIMEOUT_MS / 1000} s waiting for ${what}${cause}; ${await logTail(blamedOnTimeout)}`);
    }
    await sleep(POLL_INTERVAL_MS);
  }
}

// The simplest proof that kube-controller-manager really runs its controllers: a selector-less Service's
// Endpoints gets mirrored into an EndpointSlice. The probe objects are removed again before returning.
async function waitForEndpointSliceMirroring(adminKubeconfig: string, watched: ManagedProcess[], controllerManager: ManagedProcess): Promise<void> {
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(adminKubeconfig);
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const discovery = kubeConfig.makeApiClient(k8s.DiscoveryV1Api);
  const namespace = PROBE_NAMESPACE;
  const metadata = { name: PROBE_NAME, namespace };
  const mirroredSlices = async () =>
    (await discovery.listNamespacedEndpointSlice({ namespace, labelSelector: MIRRORED_SLICES_OF_PROBE })).items.length;

  // The API server creates the "default" namespace shortly after it reports ready.
  await waitUntil(`namespace ${namespace} to accept the probe Service`, watched, controllerManager, async () => {
    await ignoreAlreadyExists(core.createNamespacedService({ namespace, body: { metadata, spec: { ports: [{ port: 80 }] } } }));
    return true;
  });
  // Nothing connects to it (there is no kube-proxy); it only has to be a valid, non-loopback address
  // outside the test-host ranges.
  await core.createNamespacedEndpoints({
    namespace,
    body: { metadata, subsets: [{ addresses: [{ ip: "203.0.113.1" }], ports: [{ port: 80 }] }] },
  });
  await waitUntil("kube-controller-manager to mirror the probe Endpoints into an EndpointSlice", watched, controllerManager, async () => (await mirroredSlices()) > 0);
  await core.deleteNamespacedEndpoints({ name: PROBE_NAME, namespace });
  await core.deleteNamespacedService({ name: PROBE_NAME, namespace });
  await waitUntil("kube-controller-manager to delete the probe's mirrored EndpointSlice", watched, controllerManager, async () => (await mirroredSlices()) === 0);
}

/** Awaits a create; false when the object was there already. */
async function ignoreAlreadyExists(request: Promise<unknown>): Promise<boolean> {
  try {
    await request;
    return true;
  } catch (error) {
    if (!(error instanceof k8s.ApiException && error.code === 409)) throw error;
    return false;
  }
}

async function writeKubeconfig(file: string, server: string, caFile: string, user: string, token: string): Promise<void> {
  const context = `${user}@local-cluster`;
  const kubeconfig = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "local-cluster", cluster: { server, "certificate-authority": caFile } }],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: context, context: { cluster: "local-cluster", user } }],
    "current-context": context,
  };
  await writeFile(file, YAML.stringify(kubeconfig), { mode: 0o600 });
}

// Used only before the API server has written its certificate, to poll /readyz.
function getInsecure(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = https.get(url, { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: 5_000 }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body += chunk));
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
      response.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`GET ${url} timed out`)));
    request.on("error", reject);
  });
}

async function freeLoopbackPorts(count: number): Promise<number[]> {
  // All listeners are open at once so the kernel hands out distinct ports.
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<net.Server>((resolve, reject) => {
          const server = net.createServer();
          server.once("error", reject);
          server.listen(0, "127.0.0.1", () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((server) => (server.address() as net.AddressInfo).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

async function logTail(managed: ManagedProcess): Promise<string> {
  const lines = (await readFile(managed.logPath, "utf8").catch(() => "")).trimEnd().split("\n");
  return `last lines of ${managed.logPath}:\n${lines.slice(-LOG_TAIL_LINES).join("\n")}`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function main(args: string[]): Promise<void> {
  const { positionals, values } = parseArgs({
    args,
    allowPositionals: true,
    options: { dir: { type: "string" }, user: { type: "string", multiple: true } },
  });
  if (positionals[0] !== "up" || positionals.length !== 1) {
    console.error("usage: local-cluster.ts up [--dir DIR] [--user NAME=GROUP,GROUP ...]");
    process.exitCode = 2;
    return;
  }
  const users = (values.user ?? []).map((spec): ClusterUser => {
    const [name = "", groups = ""] = spec.split("=");
    return { name, groups: groups.split(",").filter(Boolean) };
  });
  const cluster = await startLocalCluster({ dir: values.dir, users });
  console.log(cluster.adminKubeconfig);
  for (const user of users) console.log(`${user.name}: ${cluster.kubeconfigFor(user.name)}`);
  // Signal listeners do not keep the event loop alive on their own.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const signal = await new Promise<string>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  clearInterval(keepAlive);
  console.error(`${signal}: stopping the cluster`);
  await cluster.stop();
}

if (import.meta.main) await main(process.argv.slice(2));
