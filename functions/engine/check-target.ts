import type { V1Service } from "@kubernetes/client-node";
import type { LimitFunction } from "p-limit";
import type { TargetConfig } from "../config/schema.ts";
import { mergeBackends } from "../decide/addresses.ts";
import { decideTarget } from "../decide/decide-target.ts";
import { tallyProbes, type ProbeTally } from "../decide/guards.ts";
import { timedOutLastRun, type TargetMemory } from "../decide/memory.ts";
import { errorMessage } from "../errors.ts";
import { buildCheck } from "../health/build.ts";
import { probeAll } from "../health/probe-all.ts";
import type { KubeClients } from "../kube/client.ts";
import type { ServiceEvent } from "../kube/events.ts";
import type { Change } from "../plan/changes.ts";
import type { Writer } from "../registry/labels.ts";
import type { Claimed } from "../registry/ownership.ts";
import type { ServiceProblem } from "../registry/service-check.ts";
import { readTarget } from "../registry/target.ts";
import type { DesiredEndpoint } from "../model.ts";
import type { TargetReport } from "../report/report.ts";
import { buildSources } from "../sources/build.ts";
import { discoverAll } from "../sources/discover.ts";

export interface TargetContext {
  clients: () => Promise<KubeClients>;
  /** Who writes: labels everything written, and decides what is ours. */
  writer: Writer;
  dryRun: boolean;
  /** Shared by all targets of a run. */
  probeLimit: LimitFunction;
  /** Stops discovery and probing: the run was cancelled, or its deadline leaves only time to write. */
  signal: AbortSignal;
  /** When this run (or fast-detection round) started: hysteresis and the status stamp use it. */
  now: Date;
  /** How often the schedule runs (config syncIntervalSeconds). */
  syncIntervalMs: number;
}

/** Health records older than this many sync intervals restart their streaks. */
const STALE_AFTER_INTERVALS = 3;

/** A target that cannot be synced as configured; reported, and nothing is written for it. */
export class TargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TargetError";
  }
}

export type ServiceKey = { namespace: string; name: string; uid?: string };

/** A target checked and decided, its writes not made yet: the run looks at every target before any writes. */
export interface CheckedTarget {
  target: TargetConfig;
  report: TargetReport;
  started: number;
  /** Its probes and how many went unanswered, for the run's checker self-check. */
  tally: ProbeTally;
  /** What to write; absent when the target failed. */
  decided?: DecidedTarget;
  /** The target failed in a way its Service's users must see: the Warning Event, and what of ours goes. */
  refusal?: Refusal;
  /** It failed otherwise after its Service was read: writeTarget raises a SyncFailed Event when that is news. */
  failedAt?: FailedService;
}

export interface FailedService {
  clients: KubeClients;
  uid: string | undefined;
  /** The failure the memory holds, from the last SyncFailed Event. */
  remembered: string | undefined;
}

interface DecidedTarget {
  clients: KubeClients;
  service: V1Service | undefined;
  claimed: Claimed;
  published: DesiredEndpoint[];
  endpoints: DesiredEndpoint[];
  memory: TargetMemory;
  /** What the last run stored, as read from the memory ConfigMap. */
  remembered: TargetMemory;
}

export interface Refusal {
  clients: KubeClients;
  service: ServiceKey;
  event: ServiceEvent;
  /** Our objects that must go (a Service that gained a selector); none when they stay as they are. */
  changes: Change[];
}

/** discover → check → decide (hysteresis, guards) for one Service. Never throws: a failure is the target's report. */
export async function checkTarget(target: TargetConfig, context: TargetContext): Promise<CheckedTarget> {
  const started = performance.now();
  const report = emptyReport(target);
  let failedAt: FailedService | undefined;
  try {
    const clients = await context.clients();
    const reading = readTarget(clients, target, context.writer);
    const [basis, results] = await Promise.all([reading.basis, discoverAll(buildSources(target.sources), context.signal)]);
    if (basis.service) failedAt = { clients, uid: basis.service.metadata?.uid, remembered: basis.remembered.memory.syncFailed };
    report.sources = results.map((result) =>
      result.status === "ok"
        ? { name: result.source, status: "ok", found: result.backends.length }
        : { name: result.source, status: "failed", found: 0, error: result.error },
    );
    for (const result of results) if (result.status === "ok") report.warnings.push(...(result.warnings ?? []).map((warning) => `source ${result.source}: ${warning}`));

    if (basis.problem) return refuseService(target, report, started, clients, basis.service?.metadata?.uid, basis.problem, (await reading.published).ours);
    if (!basis.service && !target.createService) {
      throw new TargetError(`Service ${target.namespace}/${target.service} not found: create it selector-less, or set createService: true`);
    }

    const { backends, rejected } = mergeBackends(results.flatMap((result) => (result.status === "ok" ? result.backends : [])));
    report.rejected = rejected;
    const { remembered } = basis;
    if (remembered.problem) report.warnings.push(remembered.problem);

    // Read before probing: thousands of probes starve a process on a small CPU share (a 256 MB Lambda) of the
    // time to read a large slice list within its deadline.
    const { claimed, published, views } = await reading.published;
    report.foreign = claimed.foreign;
    const conflicts = claimed.foreign.filter((object) => object.anotherWriter);
    if (conflicts.length > 0) return refuseConflict(target, report, started, clients, basis.service?.metadata?.uid, conflicts);

    const check = await buildCheck(target.check, target.ports[0]!.port);
    const probed = await probeAll(backends, check, {
      limit: context.probeLimit,
      signal: context.signal,
      recheckDelayMs: target.recheckDelayMs,
      timedOutBefore: timedOutLastRun(remembered.memory),
    });

    const decision = decideTarget({
      backends,
      refused: rejected.length,
      failedSources: results.flatMap((result) => (result.status === "failed" ? [result.source] : [])),
      probed,
      published,
      views,
      memory: remembered.memory,
      target,
      now: context.now,
      staleAfterMs: STALE_AFTER_INTERVALS * context.syncIntervalMs,
    });
    report.backends = backends.map(({ address, sources, origins, port, terminating }) => ({
      address,
      sources,
      ...(origins && { origins }),
      ...(port !== undefined && { port }),
      ...(terminating && { terminating }),
      ...decision.verdicts.get(address)!,
      ...(decision.hysteresis.health.has(address) && { health: decision.hysteresis.health.get(address) }),
    }));
    Object.assign(report, { kept: decision.kept, dropped: decision.dropped, guards: decision.trips });
    report.endpoints = countReady(decision.endpoints);
    return {
      target,
      report,
      started,
      tally: tallyProbes(probed.values()),
      decided: { clients, service: basis.service, claimed, published, endpoints: decision.endpoints, memory: decision.memory, remembered: remembered.memory },
    };
  } catch (error) {
    report.status = "failed";
    report.error = errorMessage(error);
    report.durationMs = Math.round(performance.now() - started);
    return { target, report, started, tally: { probed: 0, unanswered: 0 }, ...(failedAt && { failedAt }) };
  }
}

/**
 * The Service changed under us. Given a selector or made ExternalName, it is no longer ours to feed: our
 * slices would sit beside the controller's, so they and our Endpoints go. Its port names no longer matching
 * the config may be either side's mistake: what we published stays as it is until they agree.
 */
function refuseService(target: TargetConfig, report: TargetReport, started: number, clients: KubeClients, uid: string | undefined, problem: ServiceProblem, ours: Claimed): CheckedTarget {
  const service = { namespace: target.namespace, name: target.service, uid };
  const refusal = (reason: string, message: string, changes: Change[]): CheckedTarget => ({
    ...failedTarget(target, report, started, problem.message),
    refusal: { clients, service, event: { type: "Warning", reason, message }, changes },
  });
  const objects = [...ours.slices.map((slice) => ({ ...slice, kind: "EndpointSlice" as const })), ...(ours.endpoints ? [{ ...ours.endpoints, kind: "Endpoints" as const }] : [])];
  if (problem.kind === "ports") {
    if (objects.length === 0) return failedTarget(target, report, started, problem.message);
    return refusal("ServicePortsMismatch", `${problem.message}: our ${objects.length} objects for it are left as they are until the config and the Service agree`, []);
  }
  if (objects.length === 0) return failedTarget(target, report, started, problem.message);
  const changes = objects.map((object): Change => ({ action: "delete", object, endpoints: [] }));
  return refusal("ServiceChanged", `${problem.message}: deleting our ${objects.length} objects for it`, changes);
}

/** Another installation, or another cluster entry reaching this API server, writes for this Service: left to it. */
function refuseConflict(target: TargetConfig, report: TargetReport, started: number, clients: KubeClients, uid: string | undefined, conflicts: Claimed["foreign"]): CheckedTarget {
  const objects = conflicts.map((object) => `${object.kind} ${object.name} (${object.managedBy})`).join(", ");
  const message = `Service ${target.namespace}/${target.service} is synced by another writer: ${objects}. Left to it; give each installation its own Services, or one cluster entry per API server`;
  return {
    ...failedTarget(target, report, started, message),
    refusal: { clients, service: { namespace: target.namespace, name: target.service, uid }, event: { type: "Warning", reason: "OwnershipConflict", message }, changes: [] },
  };
}

function failedTarget(target: TargetConfig, report: TargetReport, started: number, message: string): CheckedTarget {
  report.status = "failed";
  report.error = message;
  return { target, report, started, tally: { probed: 0, unanswered: 0 } };
}

function emptyReport(target: TargetConfig): TargetReport {
  return {
    target: target.name,
    cluster: target.cluster,
    namespace: target.namespace,
    service: target.service,
    status: "unchanged",
    sources: [],
    backends: [],
    endpoints: { ready: 0, notReady: 0 },
    rejected: [],
    kept: [],
    dropped: [],
    guards: [],
    foreign: [],
    warnings: [],
    changes: [],
    writes: 0,
    conflictsRetried: 0,
    durationMs: 0,
  };
}

export const countReady = (endpoints: DesiredEndpoint[]) => ({
  ready: endpoints.filter((endpoint) => endpoint.ready).length,
  notReady: endpoints.filter((endpoint) => !endpoint.ready).length,
});
