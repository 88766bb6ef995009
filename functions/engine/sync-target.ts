import type { V1Service } from "@kubernetes/client-node";
import type { LimitFunction } from "p-limit";
import type { TargetConfig } from "../config/schema.ts";
import { mergeBackends } from "../decide/addresses.ts";
import { decideTarget, withTrippedGuards } from "../decide/decide-target.ts";
import { tallyProbes, type GuardTrip, type ProbeTally } from "../decide/guards.ts";
import { timedOutLastRun, type TargetMemory } from "../decide/memory.ts";
import { errorMessage } from "../errors.ts";
import { buildCheck } from "../health/build.ts";
import { probeAll } from "../health/probe-all.ts";
import { ApplyError, applyChanges, type ApplyResult } from "../kube/apply.ts";
import type { KubeClients } from "../kube/client.ts";
import { describeEndpointChanges, recordServiceEvent, type ServiceEvent } from "../kube/events.ts";
import { readService } from "../kube/read.ts";
import type { Change } from "../plan/changes.ts";
import type { Writer } from "../registry/labels.ts";
import type { ServiceRef } from "../plan/owner.ts";
import type { Claimed } from "../registry/ownership.ts";
import { planTarget, planWithheld } from "../plan/plan.ts";
import { buildService } from "../plan/service.ts";
import { serviceProblem, type ServiceProblem } from "../registry/service-check.ts";
import { readTarget } from "../registry/target.ts";
import type { DesiredEndpoint } from "../model.ts";
import type { ChangeReport, TargetReport } from "../report/report.ts";
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

type ServiceKey = { namespace: string; name: string; uid?: string };

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

interface Refusal {
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
  try {
    const clients = await context.clients();
    const reading = readTarget(clients, target, context.writer);
    const [basis, results] = await Promise.all([reading.basis, discoverAll(buildSources(target.sources), context.signal)]);
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

    const check = await buildCheck(target.check, target.ports[0]!.port);
    const probed = await probeAll(backends, check, {
      limit: context.probeLimit,
      signal: context.signal,
      recheckDelayMs: target.recheckDelayMs,
      timedOutBefore: timedOutLastRun(remembered.memory),
    });
    const { claimed, published } = await reading.published;
    report.foreign = claimed.foreign;
    const conflicts = claimed.foreign.filter((object) => object.anotherWriter);
    if (conflicts.length > 0) return refuseConflict(target, report, started, clients, basis.service?.metadata?.uid, conflicts);

    const decision = decideTarget({
      backends,
      refused: rejected.length,
      failedSources: results.flatMap((result) => (result.status === "failed" ? [result.source] : [])),
      probed,
      published,
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
    return { target, report, started, tally: { probed: 0, unanswered: 0 } };
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

/**
 * plan → apply for a checked target. `withheld`: the run's checker self-check tripped, so nothing it decided is
 * written; only the status stamp (when due) and the tripped guard, which raises a Warning Event. Never throws:
 * a failure is the target's report.
 */
export async function writeTarget(checked: CheckedTarget, context: TargetContext, withheld?: GuardTrip): Promise<TargetReport> {
  const { target, report, decided, refusal } = checked;
  if (refusal) await writeRefusal(report, refusal, context.dryRun, context.writer);
  if (!decided) {
    report.durationMs = Math.round(performance.now() - checked.started);
    return report;
  }
  try {
    const { clients, service, claimed } = decided;
    const changes: Change[] = [];
    let serviceUid = service?.metadata?.uid;
    if (!service && !withheld) {
      // The Service first: its uid goes into our objects' owner references.
      const create: Change = { action: "create", object: buildService(target.namespace, target.service, target.ports, context.writer), endpoints: [] };
      changes.push(create);
      if (!context.dryRun) {
        await write(report, clients, [create], context.writer);
        // Read back: if someone else created it first, it is theirs, and must pass as any found Service does.
        const created = await readService(clients, target.namespace, target.service);
        const problem = created ? serviceProblem(created, target.ports) : { message: `Service ${target.namespace}/${target.service} was deleted as soon as it was created` };
        if (problem) throw new TargetError(problem.message);
        serviceUid = created?.metadata?.uid;
      }
    }
    const serviceRef: ServiceRef = { namespace: target.namespace, name: target.service, uid: serviceUid, writer: context.writer, ports: target.ports };
    const memoryTaken = claimed.foreign.some((object) => object.kind === "ConfigMap");
    const status = context.dryRun ? undefined : { now: context.now, ...report.endpoints };
    if (withheld) {
      // What the decision's own guards would have done is moot: nothing it decided is written.
      report.guards = [withheld];
      report.endpoints = countReady(decided.published);
    }
    const planned = withheld
      ? planWithheld({
          service: serviceRef,
          existingSlices: claimed.slices,
          memory: memoryTaken ? undefined : { next: withTrippedGuards(decided.remembered, [withheld]), existing: claimed.memory, stored: decided.remembered },
          status: status && { ...status, ...report.endpoints },
        })
      : planTarget({
          service: serviceRef,
          publish: target.publish,
          desired: decided.endpoints,
          existingSlices: claimed.slices,
          existingEndpoints: claimed.endpoints,
          endpointsTaken: claimed.foreign.some((object) => object.kind === "Endpoints"),
          takenSliceNames: claimed.foreign.flatMap((object) => (object.kind === "EndpointSlice" ? [object.name] : [])),
          memory: memoryTaken ? undefined : { next: decided.memory, existing: claimed.memory, stored: decided.remembered },
          status,
        });
    changes.push(...planned);
    report.changes = changes.map(describeChange);
    if (!context.dryRun) {
      await write(report, clients, planned, context.writer);
      const serviceKey = { namespace: target.namespace, name: target.service, uid: serviceUid };
      await recordChangeEvent(report, clients, serviceKey);
      await recordGuardEvent(report, clients, serviceKey, decided.remembered.trippedGuards ?? []);
    }
    report.status = changes.length === 0 ? "unchanged" : context.dryRun ? "planned" : "synced";
  } catch (error) {
    report.status = "failed";
    report.error = errorMessage(error);
  }
  report.durationMs = Math.round(performance.now() - checked.started);
  return report;
}

/** A refused target's Warning Event, and the removal of what it must not keep. Its status stays failed. */
async function writeRefusal(report: TargetReport, refusal: Refusal, dryRun: boolean, writer: Writer): Promise<void> {
  report.changes = refusal.changes.map(describeChange);
  if (dryRun) return;
  try {
    await write(report, refusal.clients, refusal.changes, writer);
  } catch (error) {
    report.error = `${report.error}; and removing our objects failed: ${errorMessage(error)}`;
  }
  try {
    await recordServiceEvent(refusal.clients, refusal.service, refusal.event);
  } catch (error) {
    report.warnings.push(errorMessage(error));
  }
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

const countReady = (endpoints: DesiredEndpoint[]) => ({
  ready: endpoints.filter((endpoint) => endpoint.ready).length,
  notReady: endpoints.filter((endpoint) => !endpoint.ready).length,
});

/** Applies the changes and counts the writes in the report, those made before a failure too. */
async function write(report: TargetReport, clients: KubeClients, changes: Change[], writer: Writer): Promise<void> {
  if (changes.length === 0) return;
  const count = (applied: ApplyResult) => {
    report.writes += applied.writes;
    report.conflictsRetried += applied.conflictsRetried;
  };
  try {
    count(await applyChanges(clients, changes, writer));
  } catch (error) {
    if (error instanceof ApplyError) count(error.applied);
    throw error;
  }
}

export function describeChange(change: Change): ChangeReport {
  return {
    action: change.action,
    kind: change.object.kind,
    namespace: change.object.metadata?.namespace ?? "",
    name: change.object.metadata?.name ?? "",
    endpoints: change.endpoints,
  };
}

/** An Event on the Service when its endpoints changed; none when nothing did, so a busy schedule never floods it. */
async function recordChangeEvent(report: TargetReport, clients: KubeClients, service: ServiceKey): Promise<void> {
  const changed = report.changes.filter((change) => change.kind === "EndpointSlice").flatMap((change) => change.endpoints);
  const message = describeEndpointChanges(changed.length > 0 ? changed : report.changes.flatMap((change) => change.endpoints), report.endpoints);
  if (!message) return;
  try {
    await recordServiceEvent(clients, service, { type: "Normal", reason: "EndpointsChanged", message });
  } catch (error) {
    report.warnings.push(errorMessage(error));
  }
}

/** A Warning Event when guards start holding back the decision, a Normal one when they stop; none in between. */
async function recordGuardEvent(report: TargetReport, clients: KubeClients, service: ServiceKey, previous: string[]): Promise<void> {
  const now = [...new Set(report.guards.map((trip) => trip.guard))].sort();
  if (now.join() === previous.join()) return;
  const event: ServiceEvent =
    now.length > 0
      ? { type: "Warning", reason: "GuardTripped", message: report.guards.map((trip) => `${trip.guard}: ${trip.detail}`).join("; ") }
      : { type: "Normal", reason: "GuardsCleared", message: `no guard holds back the endpoints any more (was: ${previous.join(", ")})` };
  try {
    await recordServiceEvent(clients, service, event);
  } catch (error) {
    report.warnings.push(errorMessage(error));
  }
}
