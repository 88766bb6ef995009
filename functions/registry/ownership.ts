import type { V1ConfigMap, V1EndpointSlice, V1Endpoints, V1ObjectMeta } from "@kubernetes/client-node";
import { describeWriter, MANAGED_BY, ownershipOf, SLICE_MANAGED_BY, type Writer } from "./labels.ts";

/** An object we found in our way and left alone. */
export interface ForeignObject {
  kind: "EndpointSlice" | "Endpoints" | "ConfigMap";
  name: string;
  managedBy: string;
  /** Written by another installation of ours, or through another cluster entry: a conflict, not a neighbour. */
  anotherWriter?: true;
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
 * `adopt` takes over hand-made objects, never those of a Kubernetes controller or another writer of ours.
 */
export function claimObjects(
  slices: V1EndpointSlice[],
  endpoints: V1Endpoints | undefined,
  writer: Writer,
  adopt: boolean,
  memory?: V1ConfigMap,
): Claimed {
  const claimed: Claimed = { slices: [], endpoints: undefined, ...claimMemory(memory, writer) };
  for (const slice of slices) {
    const ownership = ownershipOf(slice.metadata, writer);
    if (ownership === "ours" || (adopt && ownership === "foreign" && adoptable(slice.metadata?.labels?.[SLICE_MANAGED_BY]))) claimed.slices.push(slice);
    else claimed.foreign.push(foreignObject("EndpointSlice", slice.metadata, ownership, SLICE_MANAGED_BY));
  }
  if (endpoints) {
    const ownership = ownershipOf(endpoints.metadata, writer);
    if (ownership === "ours" || (adopt && ownership === "foreign")) claimed.endpoints = endpoints;
    else claimed.foreign.push(foreignObject("Endpoints", endpoints.metadata, ownership, MANAGED_BY));
  }
  return claimed;
}

/** Pure: the memory ConfigMap if it is ours. Never adopted: one by our name but not ours holds someone's data. */
export function claimMemory(memory: V1ConfigMap | undefined, writer: Writer): Pick<Claimed, "memory" | "foreign"> {
  const ownership = memory && ownershipOf(memory.metadata, writer);
  if (!memory || ownership === "ours") return { memory, foreign: [] };
  return { memory: undefined, foreign: [foreignObject("ConfigMap", memory.metadata, ownership!, MANAGED_BY)] };
}

/** Slices of the EndpointSlice and mirroring controllers come back whatever we do to them. */
const adoptable = (sliceManager: string | undefined) => !(sliceManager?.endsWith(".k8s.io") ?? false);

function foreignObject(kind: ForeignObject["kind"], metadata: V1ObjectMeta | undefined, ownership: "anotherWriter" | "foreign", key: string): ForeignObject {
  const name = metadata?.name ?? "";
  if (ownership === "anotherWriter") return { kind, name, managedBy: `external-endpoint-syncer (${describeWriter(metadata)})`, anotherWriter: true };
  const labels = metadata?.labels ?? {};
  return { kind, name, managedBy: labels[key] ?? labels[MANAGED_BY] ?? "unknown (no managed-by label)" };
}
