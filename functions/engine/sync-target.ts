import type { LimitFunction } from "p-limit";
import type { TargetConfig } from "../config/schema.ts";
import { mergeBackends } from "../decide/addresses.ts";
import { decideEndpoints, type DecideInput } from "../decide/desired.ts";
import { applyGuards, tallyProbes, type GuardTrip, type ProbeTally } from "../decide/guards.ts";
import { applyHysteresis } from "../decide/hysteresis.ts";
import { timedOutLastRun, type TargetMemory } from "../decide/memory.ts";
import { publishedEndpoints } from "../decide/published.ts";
import { withSourceHealth } from "../decide/source-health.ts";
import { buildCheck, probeAll } from "../health/check.ts";
import { ApplyError, applyChanges, type ApplyResult } from "../kube/apply.ts";
import type { KubeClients } from "../kube/client.ts";
import { describeEndpointChanges, recordServiceEvent, type ServiceEvent } from "../kube/events.ts";
import { readTargetState, type TargetState } from "../kube/read.ts";
import type { Change } from "../plan/changes.ts";
import { readMemory } from "../plan/memory.ts";
import { claimMemory, claimObjects, type Claimed } from "../plan/ownership.ts";
import { planTarget } from "../plan/plan.ts";
import { buildService, serviceProblem } from "../plan/service.ts";
import type { DesiredEndpoint } from "../model.ts";
import type { ChangeReport, TargetReport } from "../report/report.ts";
import { buildSources, discoverAll, errorMessage } from "../sources/source.ts";

export interface TargetContext {
  clients: () => Promise<KubeClients>;
  ownerId: string;
  dryRun: boolean;
  /** Shared by all targets of a run. */
  probeLimit: LimitFunction;
  signal: AbortSignal;
  /** When this run (or fast-detection round) started: hysteresis stamps and ages health records with it. */
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

/** A target checked and decided, its writes not made yet: the run looks at every target before any writes. */
export interface CheckedTarget {
  target: TargetConfig;
  report: TargetReport;
  started: number;
  /** Its probes and how many went unanswered, for the run's checker self-check. */
  tally: ProbeTally;
  /** What to write; absent when the target already failed. */
  decided?: DecidedTarget;
}

interface DecidedTarget {
  clients: KubeClients;
  state: TargetState;
  claimed: Claimed;
  published: DesiredEndpoint[];
  endpoints: DesiredEndpoint[];
  memory: TargetMemory;
  /** What the last run stored, as read from the memory ConfigMap. */
  remembered: TargetMemory;
}

/** discover → check → decide (hysteresis, guards) for one Service. Never throws: a failure is the target's report. */
export async function checkTarget(target: TargetConfig, context: TargetContext): Promise<CheckedTarget> {
  const started = performance.now();
  const report: TargetReport = {
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
  try {
    const clients = await context.clients();
    const reading = readTargetState(clients, target.namespace, target.service);
    const [early, results] = await Promise.all([reading.early, discoverAll(buildSources(target.sources), context.signal)]);
    report.sources = results.map((result) =>
      result.status === "ok"
        ? { name: result.source, status: "ok", found: result.backends.length }
        : { name: result.source, status: "failed", found: 0, error: result.error },
    );
    for (const result of results) if (result.status === "ok") report.warnings.push(...(result.warnings ?? []).map((warning) => `source ${result.source}: ${warning}`));

    const where = `Service ${target.namespace}/${target.service}`;
    if (early.service) {
      const problem = serviceProblem(early.service, target.ports);
      if (problem) throw new TargetError(problem);
    } else if (!target.createService) {
      throw new TargetError(`${where} not found: create it selector-less, or set createService: true`);
    }

    const { backends, rejected } = mergeBackends(results.flatMap((result) => (result.status === "ok" ? result.backends : [])));
    report.rejected = rejected;
    const remembered = readMemory(claimMemory(early.memory, context.ownerId).memory);
    if (remembered.problem) report.warnings.push(remembered.problem);

    const check = await buildCheck(target.check, target.ports[0]!.port);
    const probed = await probeAll(backends, check, {
      limit: context.probeLimit,
      signal: context.signal,
      recheckDelayMs: target.recheckDelayMs,
      timedOutBefore: timedOutLastRun(remembered.memory),
    });
    // A source's own health signal is reported with the verdict, and keeps the backend from ready (decideEndpoints)
    // at once: Route 53 counts its own failures, so our rise/fall streaks count only our probes.
    const verdicts = withSourceHealth(backends, probed);
    const state: TargetState = { ...early, ...(await reading.published) };
    const claimed = claimObjects(state.slices, state.endpoints, context.ownerId, target.adopt, state.memory);
    report.foreign = claimed.foreign;
    const hysteresis = applyHysteresis({
      backends,
      verdicts: probed,
      memory: remembered.memory,
      rise: target.rise,
      fall: target.fall,
      now: context.now,
      staleAfterMs: STALE_AFTER_INTERVALS * context.syncIntervalMs,
    });
    report.backends = backends.map(({ address, sources, origins, port, terminating }) => ({
      address,
      sources,
      ...(origins && { origins }),
      ...(port !== undefined && { port }),
      ...(terminating && { terminating }),
      ...verdicts.get(address)!,
      ...(hysteresis.health.has(address) && { health: hysteresis.health.get(address) }),
    }));

    const failedSources = results.flatMap((result) => (result.status === "failed" ? [result.source] : []));
    const published = publishedEndpoints(claimed.slices, claimed.endpoints);
    const decideInput: DecideInput = { backends, verdicts, hysteresis, failedSources, published, failing: target.failing, memory: remembered.memory };
    const decision = decideEndpoints(decideInput);
    const found = new Set(backends.map((backend) => backend.address));
    const guarded = applyGuards({
      endpoints: decision.endpoints,
      dropped: decision.dropped.length,
      published,
      allHealthy: () => decideEndpoints({ ...decideInput, hysteresis: { ...hysteresis, healthy: new Map([...found].map((address) => [address, true])) } }).endpoints,
      failedSources,
      keptForFailedSources: decision.kept.filter((kept) => !found.has(kept.address)).length,
      sourcesAnsweredEmpty: failedSources.length === 0 && backends.length === 0,
      config: target.guards,
    });
    Object.assign(report, { kept: decision.kept, dropped: decision.dropped, guards: guarded.trips });
    report.endpoints = countReady(guarded.endpoints);
    return {
      target,
      report,
      started,
      tally: tallyProbes(probed.values()),
      decided: {
        clients,
        state,
        claimed,
        published,
        endpoints: guarded.endpoints,
        memory: withTrippedGuards(decision.memory, guarded.trips),
        remembered: remembered.memory,
      },
    };
  } catch (error) {
    report.status = "failed";
    report.error = errorMessage(error);
    report.durationMs = Math.round(performance.now() - started);
    return { target, report, started, tally: { probed: 0, unanswered: 0 } };
  }
}

/** plan → apply for a checked target. Never throws: a failure is the target's report. */
export async function writeTarget(checked: CheckedTarget, context: TargetContext): Promise<TargetReport> {
  const { target, report, decided } = checked;
  if (!decided) return report;
  try {
    const { clients, state, claimed } = decided;
    const changes: Change[] = [];
    let serviceUid = state.service?.metadata?.uid;
    if (!state.service) {
      // The Service first: its uid goes into our objects' owner references.
      const create: Change = { action: "create", object: buildService(target.namespace, target.service, target.ports, context.ownerId), endpoints: [] };
      changes.push(create);
      if (!context.dryRun) {
        await write(report, clients, [create], context.ownerId);
        // Read back: if someone else created it first, it is theirs, and must pass as any found Service does.
        const created = await clients.core.readNamespacedService({ namespace: target.namespace, name: target.service });
        const problem = serviceProblem(created, target.ports);
        if (problem) throw new TargetError(problem);
        serviceUid = created.metadata?.uid;
      }
    }
    const memoryTaken = claimed.foreign.some((object) => object.kind === "ConfigMap");
    const planned = planTarget({
      service: { namespace: target.namespace, name: target.service, uid: serviceUid, ownerId: context.ownerId, ports: target.ports },
      publish: target.publish,
      desired: decided.endpoints,
      existingSlices: claimed.slices,
      existingEndpoints: claimed.endpoints,
      endpointsTaken: claimed.foreign.some((object) => object.kind === "Endpoints"),
      takenSliceNames: claimed.foreign.flatMap((object) => (object.kind === "EndpointSlice" ? [object.name] : [])),
      memory: memoryTaken ? undefined : { next: decided.memory, existing: claimed.memory, stored: decided.remembered },
      status: context.dryRun ? undefined : { now: new Date(), ...report.endpoints },
    });
    changes.push(...planned);
    report.changes = changes.map(describeChange);
    if (!context.dryRun) {
      await write(report, clients, planned, context.ownerId);
      const service = { namespace: target.namespace, name: target.service, uid: serviceUid };
      await recordChangeEvent(report, clients, service);
      await recordGuardEvent(report, clients, service, decided.remembered.trippedGuards ?? []);
    }
    report.status = changes.length === 0 ? "unchanged" : context.dryRun ? "planned" : "synced";
  } catch (error) {
    report.status = "failed";
    report.error = errorMessage(error);
  }
  report.durationMs = Math.round(performance.now() - checked.started);
  return report;
}

/** The run's self-check tripped: nothing is written, and the report shows what stays published. */
export function withholdWrites(checked: CheckedTarget, trip: GuardTrip): TargetReport {
  const { report, decided } = checked;
  if (!decided) return report;
  // What the decision's own guards would have done is moot: nothing it decided is written.
  report.guards = [trip];
  report.endpoints = countReady(decided.published);
  report.durationMs = Math.round(performance.now() - checked.started);
  return report;
}

const countReady = (endpoints: DesiredEndpoint[]) => ({
  ready: endpoints.filter((endpoint) => endpoint.ready).length,
  notReady: endpoints.filter((endpoint) => !endpoint.ready).length,
});

/** Applies the changes and counts the writes in the report, those made before a failure too. */
async function write(report: TargetReport, clients: KubeClients, changes: Change[], ownerId: string): Promise<void> {
  if (changes.length === 0) return;
  const count = (applied: ApplyResult) => {
    report.writes += applied.writes;
    report.conflictsRetried += applied.conflictsRetried;
  };
  try {
    count(await applyChanges(clients, changes, ownerId));
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
async function recordChangeEvent(report: TargetReport, clients: KubeClients, service: { namespace: string; name: string; uid?: string }): Promise<void> {
  const changed = report.changes.filter((change) => change.kind === "EndpointSlice").flatMap((change) => change.endpoints);
  const message = describeEndpointChanges(changed.length > 0 ? changed : report.changes.flatMap((change) => change.endpoints), report.endpoints);
  if (!message) return;
  try {
    await recordServiceEvent(clients, service, { type: "Normal", reason: "EndpointsChanged", message });
  } catch (error) {
    report.warnings.push(errorMessage(error));
  }
}

function withTrippedGuards(memory: TargetMemory, trips: GuardTrip[]): TargetMemory {
  const names = [...new Set(trips.map((trip) => trip.guard))].sort();
  return names.length > 0 ? { ...memory, trippedGuards: names } : memory;
}

/** A Warning Event when guards start holding back the decision, a Normal one when they stop; none in between. */
async function recordGuardEvent(report: TargetReport, clients: KubeClients, service: { namespace: string; name: string; uid?: string }, previous: string[]): Promise<void> {
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
