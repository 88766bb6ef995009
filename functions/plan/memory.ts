import type { V1ConfigMap } from "@kubernetes/client-node";
import { emptyMemory, type TargetMemory } from "../decide/memory.ts";
import { type Change, sameData } from "./changes.ts";
import { SERVICE, writerLabels, type Writer } from "./labels.ts";
import { decodeMemory, encodeMemory } from "./memory-codec.ts";
import { ownerReferences, type ServiceRef } from "./owner.ts";
import { claimMemory } from "./ownership.ts";

const KEY = "memory.json.gz";

export const memoryName = (service: string) => `${service}-ees-memory`;

/**
 * Pure: the memory the ConfigMap by our name holds, and what to warn about. Its content is untrusted: what
 * cannot be read is forgotten (the whole, or a record alone) rather than trusted, and one not ours is not read.
 */
export function readMemory(configMap: V1ConfigMap | undefined, writer: Writer): { memory: TargetMemory; problem?: string } {
  const where = `memory ConfigMap ${configMap?.metadata?.namespace}/${configMap?.metadata?.name}`;
  const [foreign] = claimMemory(configMap, writer).foreign;
  if (foreign) {
    return {
      memory: emptyMemory(),
      problem: `${where} is not ours (managed by ${foreign.managedBy}), so it is left alone and rise/fall cannot be remembered: each backend takes this run's verdict`,
    };
  }
  const data = configMap?.binaryData?.[KEY];
  if (data === undefined) return { memory: emptyMemory() };
  try {
    const { memory, badRecords, example, trimmed } = decodeMemory(data);
    const problems = [
      ...(badRecords > 0 ? [`${badRecords} unreadable record(s) (the first: ${example}) forgotten: those backends start afresh`] : []),
      ...(trimmed
        ? [`trimmed when written to fit its size bound: ${trimmed.records} backend record(s) left out${trimmed.details ? ", failure details dropped" : ""}`]
        : []),
    ];
    return { memory, ...(problems.length > 0 && { problem: `${where}: ${problems.join("; ")}` }) };
  } catch (error) {
    return { memory: emptyMemory(), problem: `${where} unreadable (${(error as Error).message}): starting afresh` };
  }
}

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
    binaryData: { [KEY]: encodeMemory(next).base64 },
  };
  return [{ action: existing ? "update" : "create", object, endpoints: [] }];
}
