import { readFile } from "node:fs/promises";
import type { V1Service } from "@kubernetes/client-node";
import { applyRbac, createNamespaces, type LocalCluster, type SharedEtcd, startLocalCluster } from "../../infra/control-plane/local-cluster.ts";
import { loadConfig, validateConfig } from "../../functions/config/load.ts";
import type { Config, TargetConfig } from "../../functions/config/schema.ts";
import { connectCluster, type KubeClients } from "../../functions/kube/client.ts";
import { clusterRbac, DEFAULT_SUBJECT } from "../../functions/kube/rbac.ts";

/** The syncer's identity in tests: a user in the group `external-endpoint-syncer rbac` binds by default, and in nothing else. */
export const SYNCER_USER = "ees-syncer";

export interface TestCluster {
  local: LocalCluster;
  /** cluster-admin: sets the scene and checks the result, never syncs. */
  admin: KubeClients;
  /** How the syncer reaches this cluster in a config. */
  kubeconfig: string;
  /**
   * Binds the syncer to what `external-endpoint-syncer rbac` derives for the config's entries that reach this
   * cluster (those with its kubeconfig, or the one named), joined with what earlier grants named: as docs/deploying.md
   * says to narrow the RBAC only once the syncer has pruned, so a target that left a test's config is still
   * pruned. Call it before the syncer runs with that config (or config file, read as the CLI reads it).
   */
  grant(config: Config | string, clusterName?: string): Promise<void>;
  /** Every request the syncer made since `mark`, reads included; `username`: when it authenticates otherwise (a token webhook). */
  syncerRequestsSince(mark: number, username?: string): Promise<AuditEvent[]>;
  /** Write requests (create, update, patch, delete) the syncer made since `mark`. */
  syncerWritesSince(mark: number, username?: string): Promise<AuditEvent[]>;
  /** The audit log's length now, for syncerWritesSince. */
  auditMark(): Promise<number>;
  stop(): Promise<void>;
}

export interface AuditEvent {
  verb: string;
  objectRef?: { resource?: string; namespace?: string; name?: string };
  user: { username: string };
  userAgent?: string;
  stage: string;
  responseStatus?: { code?: number };
}

/**
 * A real control plane with `namespaces` created; the syncer may do nothing there until `grant`.
 * `tokenWebhook`: where the API server also sends tokens it does not know (test/harness/eks-authenticator.ts).
 * `etcd`: a shared etcd (startSharedEtcd) and this cluster's key prefix in it, for many clusters on one machine.
 */
export async function startTestCluster(namespaces: string[], options: { tokenWebhook?: string; etcd?: { shared: SharedEtcd; prefix: string } } = {}): Promise<TestCluster> {
  const local = await startLocalCluster({ users: [{ name: SYNCER_USER, groups: [DEFAULT_SUBJECT.name] }], tokenWebhook: options.tokenWebhook, etcd: options.etcd });
  try {
    await createNamespaces(local.adminKubeconfig, namespaces);
  } catch (error) {
    await local.stop();
    throw error;
  }
  const kubeconfig = local.kubeconfigFor(SYNCER_USER);
  // Per ownerId: whether any config pruned, and every target granted so far (by what its grant depends on).
  const granted = new Map<string, { pruning: boolean; targets: Map<string, TargetConfig> }>();
  let applied = "";
  const readAudit = async () => (await readFile(local.auditLogPath, "utf8").catch(() => "")).split("\n").filter(Boolean);
  const syncerRequestsSince = async (mark: number, username = SYNCER_USER) =>
    (await readAudit())
      .slice(mark)
      .map((line) => JSON.parse(line) as AuditEvent)
      .filter((event) => event.user.username === username && event.stage === "ResponseComplete");
  return {
    local,
    admin: connectCluster({ name: "admin", kubeconfig: local.adminKubeconfig }),
    kubeconfig,
    async grant(configOrFile, clusterName) {
      const config = typeof configOrFile === "string" ? await loadConfig(configOrFile) : configOrFile;
      const entries = clusterName !== undefined ? [clusterName] : config.clusters.filter((entry) => entry.kubeconfig === kubeconfig).map((entry) => entry.name);
      if (entries.length === 0) throw new Error("grant: no cluster entry of this config has this cluster's kubeconfig; name the entry");
      const union = granted.get(config.ownerId) ?? { pruning: false, targets: new Map() };
      union.pruning ||= config.policy === "sync";
      for (const target of config.targets.filter((entry) => entries.includes(entry.cluster))) {
        const { namespace, service, createService, publish } = target;
        union.targets.set(JSON.stringify([namespace, service, createService, publish]), { ...target, cluster: "this" });
      }
      granted.set(config.ownerId, union);
      const objects = [...granted].flatMap(([ownerId, { pruning, targets }]) =>
        clusterRbac({ ownerId, policy: pruning ? "sync" : "upsert-only", targets: [...targets.values()] }, "this").map((document) => document.object),
      );
      if (JSON.stringify(objects) === applied) return;
      await applyRbac(local.adminKubeconfig, objects);
      applied = JSON.stringify(objects);
    },
    auditMark: async () => (await readAudit()).length,
    syncerRequestsSince,
    async syncerWritesSince(mark, username) {
      return (await syncerRequestsSince(mark, username)).filter((event) => ["create", "update", "patch", "delete", "deletecollection"].includes(event.verb));
    },
    stop: () => local.stop(),
  };
}

/** A config through the real validator, so tests run with the defaults users get. */
export function testConfig(input: Record<string, unknown>): Config {
  const result = validateConfig(input);
  if (!result.ok) throw new Error(`test config is invalid:\n${result.problems.join("\n")}`);
  return result.config;
}

export function selectorlessService(namespace: string, name: string, ports: { name?: string; port: number }[]): V1Service {
  return { metadata: { name, namespace }, spec: { ports: ports.map((port) => ({ ...port, protocol: "TCP" })) } };
}

/** Polls until `check` holds or the time is up; returns the last value. */
export async function eventually<T>(read: () => Promise<T>, check: (value: T) => boolean, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (check(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
