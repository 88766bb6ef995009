import type { V1ConfigMap, V1EndpointSlice, V1Endpoints, V1ObjectMeta } from "@kubernetes/client-node";
import { errorMessage } from "../errors.ts";
import { applyChanges } from "../kube/apply.ts";
import type { KubeClients } from "../kube/client.ts";
import { KubeApiError } from "../kube/errors.ts";
import { readMemoryConfigMap, readOwnedObjects } from "../kube/read.ts";
import type { Change } from "../plan/changes.ts";
import { SERVICE_NAME, writerLabels, type Writer } from "../registry/labels.ts";
import type { PruneReport } from "../report/report.ts";
import { describeChange } from "./write-target.ts";

export interface PruneInput {
  writer: Writer;
  /** What a list by this writer's labels (installation, cluster entry, owner id) returned. */
  slices: V1EndpointSlice[];
  endpoints: V1Endpoints[];
  /** `namespace/service` of every configured target of this cluster entry. */
  configured: Set<string>;
  /** The config's allowPruneAll: without it, a prune that would delete everything found deletes nothing. */
  allowAll: boolean;
}

export interface PrunePlan {
  changes: Change[];
  /** `namespace/service` whose objects go: their memory ConfigMaps go too. */
  services: string[];
  /** Why nothing is deleted, when the guard holds the prune back. */
  guard?: string;
}

/**
 * Pure: what left the config. Only this writer's objects are ever candidates (another installation's, or
 * another cluster entry's reaching the same API server, never are), and a prune that would take every object
 * found, as an empty `targets` or a wrong cluster name would, waits for allowPruneAll.
 */
export function planPrune(input: PruneInput): PrunePlan {
  // The list was filtered by the server; a candidate for deletion is checked here once more all the same.
  const ours = (metadata: V1ObjectMeta | undefined) => hasLabels(metadata, writerLabels(input.writer));
  const orphan = (namespace: string | undefined, service: string | undefined) => !input.configured.has(`${namespace}/${service}`);
  const ownSlices = input.slices.filter((slice) => ours(slice.metadata));
  const ownEndpoints = input.endpoints.filter((item) => ours(item.metadata));
  const slices = ownSlices.filter((slice) => orphan(slice.metadata?.namespace, slice.metadata?.labels?.[SERVICE_NAME]));
  const endpoints = ownEndpoints.filter((item) => orphan(item.metadata?.namespace, item.metadata?.name));
  const services = [
    ...new Set([
      ...slices.map((slice) => `${slice.metadata?.namespace}/${slice.metadata?.labels?.[SERVICE_NAME]}`),
      ...endpoints.map((item) => `${item.metadata?.namespace}/${item.metadata?.name}`),
    ]),
  ].sort();
  const found = ownSlices.length + ownEndpoints.length;
  const doomed = slices.length + endpoints.length;
  if (doomed > 0 && doomed === found && !input.allowAll) {
    return {
      changes: [],
      services: [],
      guard: `would delete all ${found} objects this installation has here (of ${services.length} Services no target names): deleted nothing; set allowPruneAll: true to allow it`,
    };
  }
  const changes = [
    ...slices.map((slice): Change => ({ action: "delete", object: { ...slice, kind: "EndpointSlice" }, endpoints: [] })),
    ...endpoints.map((item): Change => ({ action: "delete", object: { ...item, kind: "Endpoints" }, endpoints: [] })),
  ];
  return { changes, services };
}

/**
 * Deletes what this writer wrote for Services no target names any more: slices and Endpoints found by our
 * labels across the cluster, and those Services' memory ConfigMaps, read by name (a syncer that may list
 * ConfigMaps could read every Secret-like ConfigMap of a namespace; ours is read and deleted by name only).
 */
export async function pruneCluster(clients: KubeClients, writer: Writer, configured: Set<string>, allowAll: boolean, dryRun: boolean): Promise<PruneReport> {
  const report: PruneReport = { cluster: clients.cluster, changes: [] };
  try {
    const plan = planPrune({ writer, ...(await readOwnedObjects(clients, writer)), configured, allowAll });
    if (plan.guard) report.guard = plan.guard;
    const memories = await Promise.all(plan.services.map((service) => ownMemory(clients, writer, service, report)));
    const changes = [...plan.changes, ...memories.flatMap((memory): Change[] => (memory ? [{ action: "delete", object: { ...memory, kind: "ConfigMap" }, endpoints: [] }] : []))];
    report.changes = changes.map(describeChange);
    if (!dryRun && changes.length > 0) await applyChanges(clients, changes, writer);
  } catch (error) {
    report.error = errorMessage(error);
  }
  return report;
}

/** The memory ConfigMap of a pruned Service, when it carries exactly this writer's labels; unreadable is a warning. */
async function ownMemory(clients: KubeClients, writer: Writer, service: string, report: PruneReport): Promise<V1ConfigMap | undefined> {
  const [namespace, name] = service.split("/") as [string, string];
  try {
    const memory = await readMemoryConfigMap(clients, namespace, name);
    return memory && hasLabels(memory.metadata, writerLabels(writer)) ? memory : undefined;
  } catch (error) {
    // Narrow RBAC names only the configured targets' memory: this one is left to its Service's garbage collection.
    if (error instanceof KubeApiError && error.status === 403) {
      (report.warnings ??= []).push(`${error.message}: left in place; it goes when its Service is deleted`);
      return undefined;
    }
    throw error;
  }
}

const hasLabels = (metadata: V1ObjectMeta | undefined, labels: Record<string, string>) =>
  Object.entries(labels).every(([key, value]) => metadata?.labels?.[key] === value);
