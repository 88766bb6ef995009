import type { V1ObjectMeta } from "@kubernetes/client-node";

export const MANAGER = "external-endpoint-syncer";
export const MANAGED_BY = "app.kubernetes.io/managed-by";
export const SLICE_MANAGED_BY = "endpointslice.kubernetes.io/managed-by";
export const SERVICE_NAME = "kubernetes.io/service-name";
export const SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror";
/** Tells apart installations that write to the same cluster, as external-dns's owner id does. */
export const OWNER = "external-endpoint-syncer/owner";
/** The deployment that wrote an object (EES_INSTALLATION: the service and stage), whatever its owner id. */
export const INSTALLATION = "external-endpoint-syncer/installation";
/** The installation of a run that names none (no --installation, no EES_INSTALLATION). */
export const DEFAULT_INSTALLATION = "default";
/** The config's cluster entry an object was written through: two entries may reach one API server. */
export const CLUSTER_ENTRY = "external-endpoint-syncer/cluster";
/** The Service an object of ours other than a slice belongs to (slices use kubernetes.io/service-name). */
export const SERVICE = "external-endpoint-syncer/service";

/** Who writes: an object is ours only when all three match, so installations and entries never prune each other. */
export interface Writer {
  ownerId: string;
  installation: string;
  /** The cluster entry's name in the config. */
  cluster: string;
}

export function writerLabels(writer: Writer): Record<string, string> {
  return { [MANAGED_BY]: MANAGER, [OWNER]: writer.ownerId, [INSTALLATION]: writer.installation, [CLUSTER_ENTRY]: writer.cluster };
}

/** Selects everything one writer wrote. */
export const ownedSelector = (writer: Writer) =>
  Object.entries(writerLabels(writer))
    .map(([key, value]) => `${key}=${value}`)
    .join(",");

/**
 * Whose an object is. `ours` includes what an earlier version wrote with our owner id and no installation or
 * cluster label: relabelled at its next write. `anotherWriter` is ours by kind but another installation's or
 * entry's: never touched, and reported as a conflict.
 */
export function ownershipOf(metadata: V1ObjectMeta | undefined, writer: Writer): "ours" | "anotherWriter" | "foreign" {
  const labels = metadata?.labels ?? {};
  if (labels[MANAGED_BY] !== MANAGER) return "foreign";
  const legacy = labels[INSTALLATION] === undefined && labels[CLUSTER_ENTRY] === undefined && labels[OWNER] === writer.ownerId;
  const same = labels[OWNER] === writer.ownerId && labels[INSTALLATION] === writer.installation && labels[CLUSTER_ENTRY] === writer.cluster;
  return same || legacy ? "ours" : "anotherWriter";
}

export const isOurs = (metadata: V1ObjectMeta | undefined, writer: Writer) => ownershipOf(metadata, writer) === "ours";

/** "installation x, cluster entry y, owner id z": names the writer of an object of another writer's. */
export function describeWriter(metadata: V1ObjectMeta | undefined): string {
  const labels = metadata?.labels ?? {};
  return `installation ${labels[INSTALLATION] ?? "unknown"}, cluster entry ${labels[CLUSTER_ENTRY] ?? "unknown"}, owner id ${labels[OWNER] ?? "none"}`;
}

export function sliceLabels(service: string, writer: Writer): Record<string, string> {
  return { ...writerLabels(writer), [SLICE_MANAGED_BY]: MANAGER, [SERVICE_NAME]: service };
}

export function endpointsLabels(writer: Writer): Record<string, string> {
  // skip-mirror: the mirroring controller must not copy our Endpoints into slices beside ours.
  return { ...writerLabels(writer), [SKIP_MIRROR]: "true" };
}
