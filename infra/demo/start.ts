// npm start: the functions under serverless offline, the schedule firing and POST /sync served.
// With EES_CONFIG set, they sync the clusters that config names. Without it, this brings up the embedded
// default: a local control plane, three real HTTP backends in a network namespace, and a demo config,
// then shows EndpointSlices appear and change when a backend stops. `npm start -- --once` exits after that.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { stringify } from "yaml";
import { connectCluster } from "../../functions/kube/client.ts";
import { parseConfig } from "../../functions/config/load.ts";
import { clusterRbac } from "../../functions/kube/rbac.ts";
import { applyRbac, createNamespaces, startLocalCluster } from "../control-plane/local-cluster.ts";
import { createTestNetwork } from "../netns/test-network.ts";

const NAMESPACE = "demo";
const SERVICE = "web";
const BACKENDS = ["198.18.100.2", "198.18.100.3", "198.18.100.4"];
const PORT = 8080;
const HTTP_PORT = Number(process.env.OFFLINE_HTTP_PORT ?? 3000);

const { values } = parseArgs({ options: { once: { type: "boolean", default: false } } });
const token = process.env.SYNC_TRIGGER_TOKEN ?? randomBytes(16).toString("hex");
const cleanups: (() => Promise<unknown>)[] = [];

async function main() {
  if (process.env.EES_CONFIG) {
    console.log(`Using EES_CONFIG=${process.env.EES_CONFIG}`);
    await runOffline(process.env.EES_CONFIG);
    return;
  }
  const dir = join(process.env.EES_CACHE_DIR ?? join(homedir(), ".cache", "external-endpoint-syncer"), "demo");
  await mkdir(dir, { recursive: true });
  console.log("No EES_CONFIG: starting the embedded demo (local control plane + backends in a network namespace).");

  const cluster = await startLocalCluster({ dir: join(dir, "cluster"), users: [{ name: "demo-syncer", groups: ["external-endpoint-syncer"] }] });
  cleanups.push(() => cluster.stop());
  const config = {
    clusters: [{ name: "local", kubeconfig: cluster.kubeconfigFor("demo-syncer") }],
    targets: [
      {
        name: "web",
        cluster: "local",
        namespace: NAMESPACE,
        service: SERVICE,
        ports: [{ name: "http", port: PORT }],
        sources: [{ name: "web-vms", static: BACKENDS.map((address, index) => ({ address, hostname: `web-${index + 1}` })) }],
        check: { http: { path: "/healthz", timeoutMs: 1000 } },
      },
    ],
  };
  // The syncer gets exactly what `external-endpoint-syncer rbac` prints for this config.
  await createNamespaces(cluster.adminKubeconfig, [NAMESPACE]);
  await applyRbac(cluster.adminKubeconfig, clusterRbac(parseConfig(JSON.stringify(config), "demo config"), "local").map((document) => document.object));
  const admin = connectCluster({ name: "admin", kubeconfig: cluster.adminKubeconfig });
  await admin.core.createNamespacedService({
    namespace: NAMESPACE,
    body: { metadata: { name: SERVICE, namespace: NAMESPACE }, spec: { ports: [{ name: "http", port: PORT, protocol: "TCP" }] } },
  });

  const network = await createTestNetwork({ name: "ees-demo", subnetIndex: 100 });
  cleanups.push(() => network.destroy());
  await network.addAddresses(BACKENDS);
  const fleet = await network.startBackends();
  cleanups.push(() => fleet.stop());
  for (const address of BACKENDS) await fleet.listen(address, PORT);

  const configPath = join(dir, "demo.yaml");
  await writeFile(configPath, `# yaml-language-server: $schema=${join(import.meta.dirname, "../config.schema.json")}\n${stringify(config)}`);
  console.log(`Control plane: ${cluster.server} (admin kubeconfig ${cluster.adminKubeconfig})\nDemo config: ${configPath}`);

  await runOffline(configPath, async () => {
    await triggerAndShow("First sync: all three backends answer.");
    await fleet.close(BACKENDS[2]!, PORT);
    await triggerAndShow(`Stopped the backend at ${BACKENDS[2]}: one failing sync is not enough (fall: 2).`);
    await triggerAndShow(`A second failing sync: it turns not ready.`);
    await fleet.listen(BACKENDS[2]!, PORT);
    await triggerAndShow(`Started it again: one passing sync is not enough (rise: 2).`);
    await triggerAndShow(`A second passing sync: ready once more.`);
  });

  async function triggerAndShow(title: string) {
    const response = await fetch(`http://127.0.0.1:${HTTP_PORT}/sync`, { method: "POST", headers: { authorization: `Bearer ${token}` }, body: "{}" });
    const summary = (await response.json()) as { targets: { target: string; status: string; writes: number }[]; durationMs: number };
    const target = summary.targets[0];
    console.log(`\n== ${title}\nPOST /sync -> ${response.status}: ${target?.target} ${target?.status}, ${target?.writes} writes, ${summary.durationMs} ms`);
    const slices = await admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: `kubernetes.io/service-name=${SERVICE}` });
    for (const slice of slices.items) {
      console.log(`EndpointSlice ${NAMESPACE}/${slice.metadata?.name} (${slice.addressType}, managed by ${slice.metadata?.labels?.["endpointslice.kubernetes.io/managed-by"]})`);
      for (const endpoint of slice.endpoints ?? []) {
        console.log(`  ${endpoint.addresses[0]?.padEnd(15)} ${endpoint.hostname?.padEnd(6)} ${endpoint.conditions?.ready ? "ready" : "NOT READY"}`);
      }
    }
  }
}

/** Runs serverless offline until it exits, or, with --once, until `show` has run. */
async function runOffline(configPath: string, show?: () => Promise<void>) {
  const offline = spawn(join(import.meta.dirname, "../../node_modules/.bin/sls"), ["offline", "start"], {
    cwd: join(import.meta.dirname, "../.."),
    env: { ...process.env, EES_CONFIG: configPath, SYNC_TRIGGER_TOKEN: token },
    stdio: ["ignore", "pipe", "inherit"],
  });
  cleanups.push(() => stopProcess(offline));
  offline.stdout.setEncoding("utf8").on("data", (chunk: string) => process.stdout.write(chunk.replace(/^(?=.)/gm, "[offline] ")));
  await waitForPort(HTTP_PORT, offline);
  await show?.();
  if (values.once) return;
  console.log(`\nThe schedule syncs every minute. Trigger one yourself:\n  curl -X POST -H 'Authorization: Bearer ${token}' http://127.0.0.1:${HTTP_PORT}/sync\nCtrl-C stops everything.`);
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
    offline.once("exit", resolve);
  });
}

async function waitForPort(port: number, owner: ChildProcess) {
  for (;;) {
    if (owner.exitCode !== null) throw new Error(`serverless offline exited with code ${owner.exitCode}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function stopProcess(child: ChildProcess) {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
  child.kill("SIGKILL");
}

try {
  await main();
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch((error: unknown) => console.error(`cleanup: ${String(error)}`));
}
