/** What one target remembers between runs, kept in the cluster on a ConfigMap we own (plan/memory.ts). */
export interface TargetMemory {
  backends: Record<string, BackendMemory>;
}

export interface BackendMemory {
  /** The sources that found this address when it was last found: a failed source keeps only its own. */
  sources: string[];
}

export const emptyMemory = (): TargetMemory => ({ backends: {} });
