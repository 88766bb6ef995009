// `run --every` as a pod runs it, against a real API server and real backends in a network namespace: the steps
// of infra/kubernetes/README.md with kubectl (the namespace, the RBAC that `rbac --service-account` prints for
// the config, the ConfigMap, the manifests, which the API server validates strictly; no kubelet runs here, so
// nothing starts them), a token for their ServiceAccount from the TokenRequest API, then the Deployment's own
// arguments started with the in-cluster environment (KUBERNETES_SERVICE_HOST/PORT) and the token, CA and
// namespace mounted at /var/run/secrets/kubernetes.io/serviceaccount (in a private mount namespace, so the
// host's path is untouched), the config file the ConfigMap was made from standing in for its mount.
//
// Cases: the process syncs as the ServiceAccount, every write allowed; /healthz answers 200 while it runs; a
// backend that goes down is published not ready by fast detection within the same tick; SIGTERM ends it with
// exit 0 well within its grace period. Across ticks, the loop keeps its connection to the API server (TLS, with
// the cluster's CA) instead of opening one per request, as client-node 2.0.1 would.
import assert from "node:assert/strict";
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { CoreV1Api, KubeConfig, type V1Deployment, type V1EndpointSlice } from "@kubernetes/client-node";
import { parse, stringify } from "yaml";
import { ensureControlPlaneBinaries } from "../../infra/control-plane/local-cluster.ts";
import { createTestNetwork, type BackendFleet, type TestNetwork } from "../../infra/netns/test-network.ts";
import { STOP_GRACE_MS } from "../../functions/loop.ts";
import { syncEvery } from "../../functions/engine/ticks.ts";
import { ClusterConnections } from "../../functions/kube/client.ts";
import { eventually, selectorlessService, startTestCluster, testConfig, type AuditEvent, type TestCluster } from "../harness/cluster.ts";
import { CLI } from "../harness/cli.ts";

const NAMESPACE = "ees-loop";
const MANIFESTS = path.join(import.meta.dirname, "../../infra/kubernetes/deployment.yaml");
const BACKENDS = ["198.18.171.2", "198.18.171.3"];
const PORT = 8080;
const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

let cluster: TestCluster;
let network: TestNetwork;
let fleet: BackendFleet;
let dir: string;
let ca: string;
let controlPlane: string;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ees-loop-"));
  cluster = await startTestCluster([NAMESPACE]);
  network = await createTestNetwork({ name: "ees-loop", subnetIndex: 171 });
  await network.addAddresses(BACKENDS);
  fleet = await network.startBackends();
  for (const address of BACKENDS) await fleet.listen(address, PORT);
  await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, "web", [{ name: "http", port: PORT }]) });
  const kubeconfig = parse(await readFile(cluster.local.adminKubeconfig, "utf8"));
  ca = await readFile(kubeconfig.clusters[0].cluster["certificate-authority"], "utf8");
  controlPlane = await ensureControlPlaneBinaries();
});

after(async () => {
  await network?.destroy();
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

/** A shell command as the README runs it, with the control plane's kubectl, as cluster-admin; its stdout. */
async function shell(command: string, env: Record<string, string> = {}): Promise<string> {
  const { stdout } = await promisify(execFile)("sh", ["-c", command], {
    // HOME: kubectl's cache goes there.
    env: { PATH: `${controlPlane}:${process.env.PATH}`, HOME: dir, KUBECONFIG: cluster.local.adminKubeconfig, NODE: process.execPath, CLI, ...env },
  });
  return stdout;
}

/** JSON log lines of a running process, as they arrive. */
function logLines(child: ChildProcess): { lines: Record<string, unknown>[]; find(message: string): Promise<Record<string, unknown>> } {
  const lines: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  for (const stream of [child.stdout!, child.stderr!]) {
    readline.createInterface({ input: stream }).on("line", (line) => {
      try {
        lines.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        lines.push({ message: "(not JSON)", line });
      }
      for (const wake of waiters.splice(0)) wake();
    });
  }
  return {
    lines,
    async find(message) {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const found = lines.find((line) => line.message === message);
        if (found) return found;
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`no log line ${JSON.stringify(message)}; got:\n${lines.map((line) => JSON.stringify(line)).join("\n")}`);
        await new Promise<void>((resolve) => {
          waiters.push(resolve);
          setTimeout(resolve, 500);
        });
      }
    },
  };
}

describe("run --every as a pod in the cluster", () => {
  it("syncs as its ServiceAccount, is live, detects a backend going down between ticks, and exits 0 on SIGTERM", async (t) => {
    // Prepare: the steps of infra/kubernetes/README.md, with kubectl as cluster-admin (its default --validate=strict
    // has the API server refuse an unknown or duplicate field), for a config as its ConfigMap would hold it, with
    // fast detection every second.
    const configPath = path.join(dir, "config.yaml");
    const config = {
      fastDetection: { everySeconds: 1, forSeconds: 25 },
      clusters: [{ name: "here", inCluster: true }],
      targets: [{ name: "web", cluster: "here", namespace: NAMESPACE, service: "web", ports: [{ name: "http", port: PORT }], sources: [{ static: BACKENDS.map((address) => ({ address })) }], check: { http: { path: "/", timeoutMs: 1000 } } }],
    };
    await writeFile(configPath, stringify(config));
    const account = { namespace: "external-endpoint-syncer", name: "external-endpoint-syncer" };
    await shell("kubectl create namespace external-endpoint-syncer");
    await shell(`"$NODE" "$CLI" rbac --config "$CONFIG" --service-account ${account.namespace}/${account.name} | kubectl apply -f -`, { CONFIG: configPath });
    await shell(`kubectl -n ${account.namespace} create configmap external-endpoint-syncer-config --from-file=config.yaml="$CONFIG" --dry-run=client -o yaml | kubectl apply -f -`, { CONFIG: configPath });
    await shell(`kubectl apply -f "$MANIFESTS"`, { MANIFESTS });
    const deployment = JSON.parse(await shell(`kubectl -n ${account.namespace} get deployment external-endpoint-syncer -o json`)) as V1Deployment;
    assert.equal(deployment.spec?.strategy?.type, "Recreate");
    const pod = deployment.spec!.template.spec!;
    assert.equal(pod.serviceAccountName, account.name);
    assert.equal(pod.volumes?.[0]?.configMap?.name, "external-endpoint-syncer-config");
    const args = pod.containers[0]!.args!;
    // RBAC reaches the authorizer through a watch: the pod would start later than this.
    const allowed = () => shell(`kubectl auth can-i create endpointslices.discovery.k8s.io -n ${NAMESPACE} --as system:serviceaccount:${account.namespace}:${account.name}`).catch(() => "no");
    assert.equal((await eventually(allowed, (answer) => answer.trim() === "yes")).trim(), "yes");

    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(cluster.local.adminKubeconfig);
    const tokenRequest = await kubeConfig.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({ name: account.name, namespace: account.namespace, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
    const mounted = path.join(dir, "serviceaccount");
    await mkdir(mounted);
    await writeFile(path.join(mounted, "token"), tokenRequest.status!.token!);
    await writeFile(path.join(mounted, "namespace"), account.namespace);
    await writeFile(path.join(mounted, "ca.crt"), ca);

    const podArgs = args.map((arg, index) => (args[index - 1] === "--config" ? configPath : args[index - 1] === "--health-addr" ? "127.0.0.1:0" : arg));
    assert.deepEqual(podArgs.filter((arg, index) => args[index] === arg), ["run", "--config", "--every", "30s", "--health-addr"]);
    const { port } = new URL(cluster.local.server);
    const auditMark = await cluster.auditMark();

    // Act: a tmpfs over /run (where /var/run points) in a private mount namespace, the service account bound into it.
    const script = `mount -t tmpfs tmpfs /run && mkdir -p ${SERVICE_ACCOUNT_DIR} && mount --bind "$0" ${SERVICE_ACCOUNT_DIR} && exec "$@"`;
    const env = { PATH: process.env.PATH, KUBERNETES_SERVICE_HOST: "127.0.0.1", KUBERNETES_SERVICE_PORT: port };
    const child = spawn("unshare", ["--mount", "--propagation", "private", "sh", "-c", script, mounted, process.execPath, CLI, ...podArgs], { env, stdio: ["ignore", "pipe", "pipe"] });
    // "close": its output read to the end, too.
    const exited = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
    try {
      const log = logLines(child);
      const started = await log.find("loop started");
      const liveness = (started.liveness as { port: number }).port;
      assert.equal(started.intervalSeconds, 30);

      const slices = () => cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: "kubernetes.io/service-name=web" });
      const readiness = (items: V1EndpointSlice[]) =>
        Object.fromEntries(items.flatMap((slice) => slice.endpoints ?? []).map((endpoint) => [endpoint.addresses[0], endpoint.conditions?.ready]));
      const published = await eventually(slices, (list) => readiness(list.items)[BACKENDS[0]!] === true && readiness(list.items)[BACKENDS[1]!] === true);
      assert.deepEqual(readiness(published.items), { [BACKENDS[0]!]: true, [BACKENDS[1]!]: true });

      const healthz = await fetch(`http://127.0.0.1:${liveness}/healthz`);
      assert.equal(healthz.status, 200);
      assert.equal(((await healthz.json()) as { live: boolean }).live, true);

      // A backend goes down; fast detection (rounds every second) publishes it before the tick ends.
      const runsBefore = log.lines.filter((line) => line.message === "sync finished").length;
      const changed = Date.now();
      await fleet.close(BACKENDS[1]!, PORT);
      const detected = await eventually(slices, (list) => readiness(list.items)[BACKENDS[1]!] === false);
      assert.deepEqual(readiness(detected.items), { [BACKENDS[0]!]: true, [BACKENDS[1]!]: false });
      const runsAfter = log.lines.filter((line) => line.message === "sync finished").length;
      const detectedMs = Date.now() - changed;
      assert.equal(runsAfter, runsBefore, `detected in ${detectedMs} ms by a round of the same tick, not by the next one`);

      const audit = (await readFile(cluster.local.auditLogPath, "utf8")).split("\n").filter(Boolean).slice(auditMark);
      const writes = audit
        .map((line) => JSON.parse(line) as AuditEvent)
        .filter((event) => event.user.username === `system:serviceaccount:${account.namespace}:${account.name}` && ["create", "update", "patch"].includes(event.verb));
      assert.ok(writes.length > 0, "the ServiceAccount wrote");
      assert.deepEqual(writes.filter((event) => (event.responseStatus?.code ?? 0) >= 400), [], "every write allowed by the RBAC printed for it");

      // SIGTERM: the run under way stops probing, writes what it decided, and the process exits 0.
      const signalled = Date.now();
      child.kill("SIGTERM");
      assert.equal(await exited, 0);
      const tookMs = Date.now() - signalled;
      assert.ok(tookMs < STOP_GRACE_MS, `stopped in ${tookMs} ms`);
      t.diagnostic(`down to published not ready: ${detectedMs} ms; ${writes.length} writes as the ServiceAccount; SIGTERM to exit: ${tookMs} ms`);
      assert.ok(log.lines.some((line) => line.message === "loop stopped"));
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      await exited;
    }
  });

  it("keeps its TLS connection to the API server across requests and ticks", async (t) => {
    await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, "reuse", [{ port: 5432 }]) });
    const config = testConfig({
      clusters: [{ name: "here", kubeconfig: cluster.kubeconfig }],
      targets: [{ name: "reuse", cluster: "here", namespace: NAMESPACE, service: "reuse", ports: [{ port: 5432 }], sources: [{ static: [{ address: "192.0.2.7" }] }], check: { none: {} } }],
    });
    await cluster.grant(config);
    // undici announces every connection it opens on this channel.
    const mark = await cluster.auditMark();
    let connections = 0;
    const opened = () => connections++;
    subscribe("undici:client:connected", opened);
    try {
      const stop = new AbortController();
      let ticks = 0;
      // A fifth of a second, below what --every allows, so that 10 ticks take two seconds.
      for await (const tick of syncEvery({ ...config, syncIntervalSeconds: 0.2 }, new ClusterConnections(config.clusters), { installation: "default", signal: stop.signal })) {
        assert.equal(tick.report.ok, true);
        if (++ticks === 10) stop.abort();
      }
    } finally {
      unsubscribe("undici:client:connected", opened);
    }
    const requests = (await cluster.syncerRequestsSince(mark)).length;
    assert.ok(requests >= 40, `${requests} requests`);
    // Kept connections number the most requests ever in flight at once (HTTP/1.1), not one per request.
    t.diagnostic(`${connections} connections for ${requests} requests`);
    assert.ok(connections * 4 <= requests, `${connections} connections for ${requests} requests`);
  });
});
