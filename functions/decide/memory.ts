import type { ReasonCode } from "../model.ts";

/** What one target remembers between runs, kept in the cluster on a ConfigMap we own (registry/remembered.ts, plan/memory-configmap.ts). */
export interface TargetMemory {
  backends: Record<string, BackendMemory>;
  /** The guards that held back this run's decision, so an Event says when that starts and ends, not every run. */
  trippedGuards?: string[];
  /** The message of the SyncFailed Event last raised, so one is raised when a failure starts or changes, not every run. */
  syncFailed?: string;
}

export interface BackendMemory {
  /** The sources that found this address when it was last found: a failed source keeps only its own. */
  sources: string[];
  /** Its health across runs (decide/hysteresis.ts); absent for a backend never checked (`check: none`). */
  health?: BackendHealth;
}

/**
 * Rewritten only when something here changes: a steady backend's record stays as it is run after run, so a
 * sync with nothing to change writes nothing. That is why `streak` counts only runs against `healthy`.
 */
export interface BackendHealth {
  /** After rise/fall: what the guards start from. */
  healthy: boolean;
  /** Runs in a row whose verdict contradicts `healthy` (fails while healthy, passes while not); 0 when steady. */
  streak: number;
  /** The last verdict: `Passed`, or why it failed (Timeout, ConnRefused, TLSVerify, EtcdUnhealthy, ...). */
  reason: ReasonCode;
  /** The last failure's detail, etcd's own reason included. */
  detail?: string;
  /** When `healthy` last changed (ISO 8601). */
  since: string;
  /** The probe that last changed this record (ISO 8601): a streak older than 3 intervals is stale. */
  probedAt: string;
}

export const emptyMemory = (): TargetMemory => ({ backends: {} });

/** The backends whose last probe timed out. */
export function timedOutLastRun(memory: TargetMemory): Set<string> {
  const addresses = new Set<string>();
  for (const [address, backend] of Object.entries(memory.backends)) if (backend.health?.reason === "Timeout") addresses.add(address);
  return addresses;
}
