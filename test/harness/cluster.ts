import { readFile } from "node:fs/promises";
import type { V1Service } from "@kubernetes/client-node";
import { applyRbac, type LocalCluster, startLocalCluster } from "../../infra/control-plane/local-cluster.ts";
import { validateConfig } from "../../functions/config/load.ts";
import type { Config } from "../../functions/config/schema.ts";
import { connectCluster, type KubeClients } from "../../functions/kube/client.ts";

/** The syncer's identity in tests: a user with nothing but infra/rbac.yaml's roles. */
export const SYNCER_USER = "ees-syncer";
const SYNCER_GROUP = "external-endpoint-syncer";

export interface TestCluster {
  local: LocalCluster;
  /** cluster-admin: sets the scene and checks the result, never syncs. */
  admin: KubeClients;
  /** How the syncer reaches this cluster in a config. */
  kubeconfig: string;
  /** Write requests (create, update, patch, delete) the syncer made since `mark`. */
  syncerWritesSince(mark: number): Promise<AuditEvent[]>;
  /** The audit log's length now, for syncerWritesSince. */
  auditMark(): Promise<number>;
  stop(): Promise<void>;
}

export interface AuditEvent {
  verb: string;
  objectRef?: { resource?: string; namespace?: string; name?: string };
  user: { username: string };
  stage: string;
  responseStatus?: { code?: number };
}

/** A real control plane with the syncer's RBAC applied in `namespaces`. */
export async function startTestCluster(namespaces: string[], options: { createService?: boolean } = {}): Promise<TestCluster> {
  const local = await startLocalCluster({ users: [{ name: SYNCER_USER, groups: [SYNCER_GROUP] }] });
  try {
    await applyRbac(local.adminKubeconfig, namespaces, options);
  } catch (error) {
    await local.stop();
    throw error;
  }
  const readAudit = async () => (await readFile(local.auditLogPath, "utf8").catch(() => "")).split("\n").filter(Boolean);
  return {
    local,
    admin: connectCluster({ name: "admin", kubeconfig: local.adminKubeconfig }),
    kubeconfig: local.kubeconfigFor(SYNCER_USER),
    auditMark: async () => (await readAudit()).length,
    async syncerWritesSince(mark) {
      return (await readAudit())
        .slice(mark)
        .map((line) => JSON.parse(line) as AuditEvent)
        .filter((event) => event.user.username === SYNCER_USER && event.stage === "ResponseComplete")
        .filter((event) => ["create", "update", "patch", "delete", "deletecollection"].includes(event.verb));
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
