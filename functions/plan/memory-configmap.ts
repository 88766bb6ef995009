import type { V1ConfigMap } from "@kubernetes/client-node";
import type { TargetMemory } from "../decide/memory.ts";
import { SERVICE, writerLabels } from "../registry/labels.ts";
import { encodeMemory } from "../registry/memory-codec.ts";
import { MEMORY_KEY, memoryName } from "../registry/remembered.ts";
import { type Change, sameData } from "./changes.ts";
import { ownerReferences, type ServiceRef } from "./owner.ts";

/** What to store, over our ConfigMap as read (if there is one) and the memory it was read to hold. */
export interface MemoryPlan {
  next: TargetMemory;
  existing: V1ConfigMap | undefined;
  stored: TargetMemory;
}

/** Pure: the write, if any, that stores `next`, trimmed to its size bound (memory-codec.ts). Unchanged memory writes nothing. */
export function planMemory(service: ServiceRef, { next, existing, stored }: MemoryPlan): Change[] {
  const labels = { ...existing?.metadata?.labels, ...writerLabels(service.writer), [SERVICE]: service.name };
  // An earlier version's ConfigMap lacks the installation and cluster labels: relabelled even when the memory holds.
  const labelled = Object.entries(labels).every(([key, value]) => existing?.metadata?.labels?.[key] === value);
  if (existing && labelled && sameData(stored, next)) return [];
  // Nothing worth a new ConfigMap, unless a failure's Event is to be remembered.
  if (!existing && Object.keys(next.backends).length === 0 && next.syncFailed === undefined) return [];
  const object: V1ConfigMap & { kind: "ConfigMap" } = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      ...existing?.metadata,
      managedFields: undefined,
      name: memoryName(service.name),
      namespace: service.namespace,
      labels,
      ownerReferences: ownerReferences(service),
    },
    binaryData: { [MEMORY_KEY]: encodeMemory(next).base64 },
  };
  return [{ action: existing ? "update" : "create", object, endpoints: [] }];
}
