import type { V1ConfigMap } from "@kubernetes/client-node";
import { emptyMemory, type TargetMemory } from "../decide/memory.ts";
import type { Writer } from "./labels.ts";
import { decodeMemory } from "./memory-codec.ts";
import { claimMemory } from "./ownership.ts";

/** The key of the memory ConfigMap's binaryData that holds the encoded memory (memory-codec.ts). */
export const MEMORY_KEY = "memory.json.gz";

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
  const data = configMap?.binaryData?.[MEMORY_KEY];
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

