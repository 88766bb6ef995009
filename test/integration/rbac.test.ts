// The syncer under exactly what `external-endpoint-syncer rbac` prints, applied as printed, in a real API
// server: a kube-system target syncs, while aws-auth (as EKS keeps it there) and every other ConfigMap
// stay out of its reach; a Service is created only where a target asks for createService. The audit log
// shows each ConfigMap request the syncer made, so "only its memory" is what the server saw. Narrowed before
// it pruned, it still prunes slices and Endpoints, and leaves the memory it may no longer name. Under
// upsert-only it deletes its own objects for a Service that gained a selector. Bad flags exit 2.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { parseAllDocuments, stringify } from "yaml";
import { applyRbac } from "../../infra/control-plane/local-cluster.ts";
import type { RbacObject } from "../../functions/kube/rbac.ts";
import type { RunReport } from "../../functions/report/report.ts";
import { type AuditEvent, selectorlessService, startTestCluster, SYNCER_USER, type TestCluster } from "../harness/cluster.ts";
import { CLI } from "../harness/cli.ts";

const OTHER = "ees-rbac";
const AWS_AUTH = { mapRoles: "- rolearn: arn:aws:iam::123456789012:role/admin\n  username: admin\n  groups: [system:masters]\n" };
let cluster: TestCluster;
/** client-node's full CoreV1Api as the syncer's user: every call the syncer's narrowed client cannot even name. */
let asSyncer: CoreV1Api;

before(async () => {
  cluster = await startTestCluster([OTHER]);
  await cluster.admin.core.createNamespacedConfigMap({ namespace: "kube-system", body: { metadata: { name: "aws-auth", namespace: "kube-system" }, data: AWS_AUTH } });
  await cluster.admin.core.createNamespacedConfigMap({ namespace: OTHER, body: { metadata: { name: "app-settings", namespace: OTHER }, data: { password: "hunter2" } } });
  await cluster.admin.core.createNamespacedService({ namespace: "kube-system", body: selectorlessService("kube-system", "etcd-k8s", [{ name: "client", port: 2379 }]) });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(cluster.kubeconfig);
  asSyncer = kubeConfig.makeApiClient(CoreV1Api);
});

after(() => cluster?.stop());

/** The CLI's output; exit 1 (a target failed) still prints the report. */
async function cli(args: string[]): Promise<string> {
  const result = await promisify(execFile)(process.execPath, [CLI, ...args]).catch((error: { code: number; stdout: string }) => {
    if (error.code !== 1) throw error;
    return error;
  });
  return result.stdout;
}

/** Writes the config, and applies what `rbac` prints for it, as printed. */
async function configWithItsRbac(file: string, targets: Record<string, unknown>[], extra: Record<string, unknown> = {}): Promise<string> {
  const path = join(cluster.local.dir, file);
  await writeFile(path, stringify({ clusters: [{ name: "test", kubeconfig: cluster.kubeconfig }], targets, ...extra }));
  const printed = await cli(["rbac", "--config", path]);
  await applyRbac(cluster.local.adminKubeconfig, parseAllDocuments(printed).map((document) => (Array.isArray(document) ? [] : document.toJS()) as RbacObject));
  return path;
}

async function sync(path: string): Promise<RunReport> {
  return JSON.parse(await cli(["sync", "--config", path, "-o", "json"])) as RunReport;
}

const statusOf = (call: Promise<unknown>) => call.then(() => 200, (error: { code?: number }) => error.code);

// Never probed (check: none): the address only has to be valid.
const target = (name: string, namespace: string, extra: Record<string, unknown> = {}) => ({
  name,
  cluster: "test",
  namespace,
  service: name,
  ports: [{ name: "client", port: 2379 }],
  sources: [{ static: [{ address: "192.0.2.60" }] }],
  check: { none: {} },
  ...extra,
});

describe("the syncer under exactly the RBAC `external-endpoint-syncer rbac` prints", () => {
  it("syncs a kube-system target, and cannot read, list or change aws-auth or any ConfigMap but its memory", async () => {
    const path = await configWithItsRbac("kube-system.yaml", [target("etcd-k8s", "kube-system")]);
    const mark = await cluster.auditMark();

    const report = await sync(path);

    assert.equal(report.ok, true, JSON.stringify(report));
    assert.equal(report.targets[0]!.status, "synced");
    const memory = await cluster.admin.core.readNamespacedConfigMap({ namespace: "kube-system", name: "etcd-k8s-ees-memory" });
    assert.equal(memory.metadata?.labels?.["app.kubernetes.io/managed-by"], "external-endpoint-syncer");
    const configMapRequests = (await readFile(cluster.local.auditLogPath, "utf8"))
      .split("\n")
      .filter(Boolean)
      .slice(mark)
      .map((line) => JSON.parse(line) as AuditEvent)
      .filter((event) => event.user.username === SYNCER_USER && event.objectRef?.resource === "configmaps");
    assert.deepEqual(
      [...new Set(configMapRequests.map((event) => `${event.verb} ${event.objectRef?.namespace}/${event.objectRef?.name ?? ""} ${event.responseStatus?.code}`))].sort(),
      ["create kube-system/etcd-k8s-ees-memory 201", "get kube-system/etcd-k8s-ees-memory 404"],
    );

    const denied = {
      "get aws-auth": await statusOf(asSyncer.readNamespacedConfigMap({ namespace: "kube-system", name: "aws-auth" })),
      "list kube-system": await statusOf(asSyncer.listNamespacedConfigMap({ namespace: "kube-system" })),
      "list every namespace": await statusOf(asSyncer.listConfigMapForAllNamespaces()),
      "watch kube-system": await statusOf(asSyncer.listNamespacedConfigMap({ namespace: "kube-system", watch: true, timeoutSeconds: 1 })),
      "update aws-auth": await statusOf(
        asSyncer.replaceNamespacedConfigMap({ namespace: "kube-system", name: "aws-auth", body: { metadata: { name: "aws-auth" }, data: { mapRoles: "- groups: [system:masters]" } } }),
      ),
      "patch aws-auth": await statusOf(asSyncer.patchNamespacedConfigMap({ namespace: "kube-system", name: "aws-auth", body: [{ op: "add", path: "/data/x", value: "y" }] })),
      "delete aws-auth": await statusOf(asSyncer.deleteNamespacedConfigMap({ namespace: "kube-system", name: "aws-auth" })),
      "get in another namespace": await statusOf(asSyncer.readNamespacedConfigMap({ namespace: OTHER, name: "app-settings" })),
      "list Secrets": await statusOf(asSyncer.listNamespacedSecret({ namespace: "kube-system" })),
    };
    assert.deepEqual(denied, Object.fromEntries(Object.keys(denied).map((key) => [key, 403])));
    // create cannot be limited by name, but cannot overwrite: aws-auth stays as it was.
    assert.equal(await statusOf(asSyncer.createNamespacedConfigMap({ namespace: "kube-system", body: { metadata: { name: "aws-auth" }, data: {} } })), 409);
    assert.deepEqual((await cluster.admin.core.readNamespacedConfigMap({ namespace: "kube-system", name: "aws-auth" })).data, AWS_AUTH);
  });

  it("creates a missing Service only where a target asks for createService", async () => {
    const path = await configWithItsRbac("create-service.yaml", [target("etcd-k8s", "kube-system"), target("made", OTHER, { createService: true })]);

    const report = await sync(path);

    assert.equal(report.ok, true, JSON.stringify(report));
    assert.deepEqual(report.targets.find((item) => item.target === "made")!.changes.map((change) => `${change.action} ${change.kind}`)[0], "create Service");
    assert.equal(await statusOf(asSyncer.createNamespacedService({ namespace: "kube-system", body: selectorlessService("kube-system", "sneaky", [{ port: 1 }]) })), 403);
  });

  it("prunes a departed target's slices and Endpoints under the narrower RBAC, leaving only its memory, which it may no longer name", async () => {
    await cluster.admin.core.createNamespacedService({ namespace: OTHER, body: selectorlessService(OTHER, "stays", [{ name: "client", port: 2379 }]) });
    await cluster.admin.core.createNamespacedService({ namespace: OTHER, body: selectorlessService(OTHER, "leaves", [{ name: "client", port: 2379 }]) });
    assert.equal((await sync(await configWithItsRbac("both.yaml", [target("stays", OTHER), target("leaves", OTHER)]))).ok, true);

    // Narrowed before the syncer pruned: what docs/deploying.md's "widen first, narrow last" warns of.
    const report = await sync(await configWithItsRbac("one.yaml", [target("stays", OTHER)]));

    assert.equal(report.pruned[0]!.error, undefined);
    assert.deepEqual(report.pruned[0]!.changes.map((change) => `${change.action} ${change.kind} ${change.name}`).sort(), ["delete EndpointSlice leaves-ipv4-0", "delete Endpoints leaves"]);
    const slices = await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: OTHER, labelSelector: "kubernetes.io/service-name=leaves" });
    assert.deepEqual(slices.items, []);
    await assert.rejects(cluster.admin.core.readNamespacedEndpoints({ namespace: OTHER, name: "leaves" }), { code: 404 });
    await cluster.admin.core.readNamespacedConfigMap({ namespace: OTHER, name: "leaves-ees-memory" });
  });

  it("under policy upsert-only, deletes its own Endpoints and slices by name when the Service gains a selector", async () => {
    await cluster.admin.core.createNamespacedService({ namespace: OTHER, body: selectorlessService(OTHER, "taken", [{ name: "client", port: 2379 }]) });
    const path = await configWithItsRbac("upsert.yaml", [target("taken", OTHER)], { policy: "upsert-only" });
    assert.equal((await sync(path)).ok, true);
    const service = await cluster.admin.core.readNamespacedService({ namespace: OTHER, name: "taken" });
    await cluster.admin.core.replaceNamespacedService({ namespace: OTHER, name: "taken", body: { ...service, spec: { ...service.spec, selector: { app: "taken" } } } });

    const report = await sync(path);

    assert.deepEqual(report.targets[0]!.changes.map((change) => `${change.action} ${change.kind}`).sort(), ["delete EndpointSlice", "delete Endpoints"]);
    await assert.rejects(cluster.admin.core.readNamespacedEndpoints({ namespace: OTHER, name: "taken" }), { code: 404 });
  });

  it("exits 2 naming the flag and the value when the cluster or the subject is wrong", async () => {
    const path = join(cluster.local.dir, "kube-system.yaml");
    const refused = async (args: string[]) =>
      promisify(execFile)(process.execPath, [CLI, "rbac", "--config", path, ...args]).then(
        () => "exit 0",
        (error: { code: number; stderr: string }) => `exit ${error.code}: ${error.stderr.split("\n")[0]}`,
      );
    assert.equal(await refused(["--cluster", "prod"]), `exit 2: --cluster: no cluster named "prod" in ${path} (have: test)`);
    assert.equal(await refused(["--service-account", "ees"]), 'exit 2: --service-account: expected NAMESPACE/NAME (lower-case DNS names), got "ees"');
    assert.equal(await refused(["--group", "a", "--user", "b"]), "exit 2: give at most one of --group, --user, --service-account");
    assert.match(await cli(["rbac", "--config", path, "--service-account", "ees/syncer"]), /subjects:\n {2}- kind: ServiceAccount\n {4}namespace: ees\n {4}name: syncer\n/);
  });
});
