import type { EndpointChange } from "../plan/changes.ts";
import type { ForeignObject } from "../registry/ownership.ts";
import type { KeptEndpoint } from "../decide/desired.ts";
import type { GuardTrip } from "../decide/guards.ts";
import type { BackendHealth } from "../decide/memory.ts";
import type { ReasonCode, RejectedAddress } from "../model.ts";

export interface SourceReport {
  name: string;
  status: "ok" | "failed";
  found: number;
  error?: string;
}

export interface BackendReport {
  address: string;
  sources: string[];
  /** Where exactly each source found it: an instance, a Route 53 set id, an SRV record. */
  origins?: string[];
  /** Its own port, when a source gave one. */
  port?: number;
  /** Draining: published terminating, never ready. */
  terminating?: boolean;
  status: "pass" | "fail" | "unknown";
  reason: ReasonCode;
  latencyMs: number;
  detail?: string;
  /** Its health after rise/fall, as stored for the next run (none for `check: none`). */
  health?: BackendHealth;
}

export interface ChangeReport {
  action: "create" | "update" | "delete";
  kind: "EndpointSlice" | "Endpoints" | "Service" | "ConfigMap";
  namespace: string;
  name: string;
  endpoints: EndpointChange[];
}

export interface TargetReport {
  target: string;
  cluster: string;
  namespace: string;
  service: string;
  /**
   * `planned`: a dry run that found changes. `degraded`: it ran to the end, but a source failed or a guard held
   * changes back, so what is published may be stale; `writes` and `changes` still say what was (or would be) written.
   * `failed` wins over `degraded`.
   */
  status: "synced" | "unchanged" | "planned" | "degraded" | "failed";
  error?: string;
  sources: SourceReport[];
  backends: BackendReport[];
  endpoints: { ready: number; notReady: number };
  rejected: RejectedAddress[];
  kept: KeptEndpoint[];
  dropped: string[];
  /** The guards that changed what is published, or stopped the writing, this run. */
  guards: GuardTrip[];
  foreign: ForeignObject[];
  /** Things the operator should know that did not stop the sync. */
  warnings: string[];
  changes: ChangeReport[];
  writes: number;
  conflictsRetried: number;
  durationMs: number;
}

export interface PruneReport {
  cluster: string;
  changes: ChangeReport[];
  /** The prune guard held everything back: why. */
  guard?: string;
  warnings?: string[];
  error?: string;
}

export interface RunReport {
  /** No target and no prune failed, and the run was not cut short. */
  ok: boolean;
  /** A target is degraded, the prune guard held deletions back, or the run was cut short: something was held back. */
  degraded: boolean;
  dryRun: boolean;
  targets: TargetReport[];
  /** What was removed (or would be, in a dry run) for targets that left the config. */
  pruned: PruneReport[];
  durationMs: number;
  /** Fast detection only: how many rounds of checks this run made. */
  rounds?: number;
  /** The run's deadline came before every probe was done: what had no verdict kept what it had. */
  cutShort?: true;
}

/** A source failed or a guard tripped: the target's decision rests on less than it asked for. */
export function isDegraded(target: Pick<TargetReport, "sources" | "guards">): boolean {
  return target.sources.some((source) => source.status === "failed") || target.guards.length > 0;
}
