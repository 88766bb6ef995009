import type { V1ConfigMap, V1EndpointSlice, V1Endpoints, V1ObjectMeta } from "@kubernetes/client-node";
import { isOurs, MANAGED_BY, MANAGER, OWNER, SLICE_MANAGED_BY } from "./labels.ts";

/** An object we found in our way and left alone. */
export interface ForeignObject {
  kind: "EndpointSlice" | "Endpoints" | "ConfigMap";
  name: string;
  managedBy: string;
}

export interface Claimed {
  /** Ours to change: written by us, or adopted. */
  slices: V1EndpointSlice[];
  endpoints: V1Endpoints | undefined;
  memory: V1ConfigMap | undefined;
  foreign: ForeignObject[];
}

/**
 * Pure: splits what the cluster holds for a Service into what we may change and what we must leave.
 * `adopt` takes over hand-made objects, never those of a Kubernetes controller or another installation of ours.
 */
export function claimObjects(
  slices: V1EndpointSlice[],
  endpoints: V1Endpoints | undefined,
  ownerId: string,
  adopt: boolean,
  memory?: V1ConfigMap,
): Claimed {
  const claimed: Claimed = { slices: [], endpoints: undefined, ...claimMemory(memory, ownerId) };
  for (const slice of slices) {
    if (isOurs(slice.metadata, ownerId) || (adopt && adoptable(slice.metadata, slice.metadata?.labels?.[SLICE_MANAGED_BY]))) claimed.slices.push(slice);
    else claimed.foreign.push({ kind: "EndpointSlice", name: slice.metadata?.name ?? "", managedBy: managerOf(slice.metadata, SLICE_MANAGED_BY) });
  }
  if (endpoints) {
    if (isOurs(endpoints.metadata, ownerId) || (adopt && adoptable(endpoints.metadata, undefined))) claimed.endpoints = endpoints;
    else claimed.foreign.push({ kind: "Endpoints", name: endpoints.metadata?.name ?? "", managedBy: managerOf(endpoints.metadata, MANAGED_BY) });
  }
  return claimed;
}

/** Pure: the memory ConfigMap if it is ours. Never adopted: one by our name but not ours holds someone's data. */
export function claimMemory(memory: V1ConfigMap | undefined, ownerId: string): Pick<Claimed, "memory" | "foreign"> {
  if (!memory || isOurs(memory.metadata, ownerId)) return { memory, foreign: [] };
  return { memory: undefined, foreign: [{ kind: "ConfigMap", name: memory.metadata?.name ?? "", managedBy: managerOf(memory.metadata, MANAGED_BY) }] };
}

function adoptable(metadata: V1ObjectMeta | undefined, sliceManager: string | undefined): boolean {
  const anotherInstallation = metadata?.labels?.[MANAGED_BY] === MANAGER;
  // Slices of the EndpointSlice and mirroring controllers come back whatever we do to them.
  const controller = sliceManager?.endsWith(".k8s.io") ?? false;
  return !anotherInstallation && !controller;
}

function managerOf(metadata: V1ObjectMeta | undefined, key: string): string {
  const labels = metadata?.labels ?? {};
  if (labels[MANAGED_BY] === MANAGER) return `${MANAGER} (another owner id: ${labels[OWNER] ?? "none"})`;
  return labels[key] ?? labels[MANAGED_BY] ?? "unknown (no managed-by label)";
}
