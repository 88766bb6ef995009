import { gunzipSync, gzipSync } from "node:zlib";
import type { V1ConfigMap } from "@kubernetes/client-node";
import { emptyMemory, type TargetMemory } from "../decide/memory.ts";
import { type Change, sameData } from "./changes.ts";
import { SERVICE, writerLabels } from "./labels.ts";
import { ownerReferences, type ServiceRef } from "./owner.ts";

/** gzip: thousands of backends' memory stays far below a ConfigMap's 1 MiB. */
const KEY = "memory.json.gz";

export const memoryName = (service: string) => `${service}-ees-memory`;

/** Pure: the memory a ConfigMap holds; an unreadable one is forgotten rather than trusted. */
export function readMemory(configMap: V1ConfigMap | undefined): { memory: TargetMemory; problem?: string } {
  const data = configMap?.binaryData?.[KEY];
  if (data === undefined) return { memory: emptyMemory() };
  try {
    const memory = JSON.parse(gunzipSync(Buffer.from(data, "base64")).toString("utf8")) as TargetMemory;
    if (typeof memory?.backends !== "object" || memory.backends === null) throw new Error("no backends");
    return { memory };
  } catch (error) {
    return { memory: emptyMemory(), problem: `memory ConfigMap ${configMap?.metadata?.name} unreadable (${(error as Error).message}): starting afresh` };
  }
}

/** What to store, over our ConfigMap as read (if there is one) and the memory it was read to hold. */
export interface MemoryPlan {
  next: TargetMemory;
  existing: V1ConfigMap | undefined;
  stored: TargetMemory;
}

/** Pure: the write, if any, that stores `next`. Unchanged memory writes nothing. */
export function planMemory(service: ServiceRef, { next, existing, stored }: MemoryPlan): Change[] {
  const labels = { ...existing?.metadata?.labels, ...writerLabels(service.writer), [SERVICE]: service.name };
  // An earlier version's ConfigMap lacks the installation and cluster labels: relabelled even when the memory holds.
  const labelled = Object.entries(labels).every(([key, value]) => existing?.metadata?.labels?.[key] === value);
  if (existing && labelled && sameData(stored, next)) return [];
  if (!existing && Object.keys(next.backends).length === 0) return [];
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
    binaryData: { [KEY]: gzipSync(JSON.stringify(next)).toString("base64") },
  };
  return [{ action: existing ? "update" : "create", object, endpoints: [] }];
}
