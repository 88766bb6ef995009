import type { LimitFunction } from "p-limit";
import type { TargetConfig } from "../config/schema.ts";
import { mergeBackends } from "../decide/addresses.ts";
import { decideEndpoints } from "../decide/desired.ts";
import { publishedEndpoints } from "../decide/published.ts";
import { buildCheck, probeAll } from "../health/check.ts";
import { applyChanges } from "../kube/apply.ts";
import type { KubeClients } from "../kube/client.ts";
import { describeEndpointChanges, recordServiceEvent } from "../kube/events.ts";
import { readTargetState } from "../kube/read.ts";
import type { Change } from "../plan/changes.ts";
import { readMemory } from "../plan/memory.ts";
import { claimObjects } from "../plan/ownership.ts";
import { planTarget } from "../plan/plan.ts";
import { buildService, serviceProblem } from "../plan/service.ts";
import type { ChangeReport, TargetReport } from "../report/report.ts";
import { buildSources, discoverAll, errorMessage } from "../sources/source.ts";

export interface TargetContext {
  clients: () => Promise<KubeClients>;
  ownerId: string;
  dryRun: boolean;
  /** Shared by all targets of a run. */
  probeLimit: LimitFunction;
  signal: AbortSignal;
}

/** A target that cannot be synced as configured; reported, and nothing is written for it. */
export class TargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TargetError";
  }
}

/** discover → check → decide → plan → apply for one Service. Never throws: a failure is the target's report. */
export async function syncTarget(target: TargetConfig, context: TargetContext): Promise<TargetReport> {
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
    foreign: [],
    warnings: [],
    changes: [],
    writes: 0,
    conflictsRetried: 0,
    durationMs: 0,
  };
  try {
    const clients = await context.clients();
    const [state, results] = await Promise.all([
      readTargetState(clients, target.namespace, target.service),
      discoverAll(buildSources(target.sources), context.signal),
    ]);
    report.sources = results.map((result) =>
      result.status === "ok"
        ? { name: result.source, status: "ok", found: result.backends.length }
        : { name: result.source, status: "failed", found: 0, error: result.error },
    );

    const where = `Service ${target.namespace}/${target.service}`;
    if (state.service) {
      const problem = serviceProblem(state.service, target.ports);
      if (problem) throw new TargetError(problem);
    } else if (!target.createService) {
      throw new TargetError(`${where} not found: create it selector-less, or set createService: true`);
    }

    const { backends, rejected } = mergeBackends(results.flatMap((result) => (result.status === "ok" ? result.backends : [])));
    report.rejected = rejected;
    const verdicts = await probeAll(backends, buildCheck(target.check, target.ports[0]!.port), context.probeLimit, context.signal);
    report.backends = backends.map((backend) => ({ address: backend.address, sources: backend.sources, ...verdicts.get(backend.address)! }));

    const claimed = claimObjects(state.slices, state.endpoints, context.ownerId, target.adopt, state.memory);
    report.foreign = claimed.foreign;
    const memoryTaken = claimed.foreign.some((object) => object.kind === "ConfigMap");
    const remembered = readMemory(claimed.memory);
    if (remembered.problem) report.warnings.push(remembered.problem);
    const decision = decideEndpoints({
      backends,
      verdicts,
      failedSources: results.flatMap((result) => (result.status === "failed" ? [result.source] : [])),
      published: publishedEndpoints(claimed.slices, claimed.endpoints),
      failing: target.failing,
      memory: remembered.memory,
    });
    Object.assign(report, { kept: decision.kept, dropped: decision.dropped });
    report.endpoints = {
      ready: decision.endpoints.filter((endpoint) => endpoint.ready).length,
      notReady: decision.endpoints.filter((endpoint) => !endpoint.ready).length,
    };

    const changes: Change[] = [];
    let serviceUid = state.service?.metadata?.uid;
    if (!state.service) {
      // The Service first: its uid goes into our objects' owner references.
      const create: Change = { action: "create", object: buildService(target.namespace, target.service, target.ports, context.ownerId), endpoints: [] };
      changes.push(create);
      if (!context.dryRun) {
        await write(report, clients, [create], context.ownerId);
        serviceUid = (await clients.core.readNamespacedService({ namespace: target.namespace, name: target.service })).metadata?.uid;
      }
    }
    const planned = planTarget({
      service: { namespace: target.namespace, name: target.service, uid: serviceUid, ownerId: context.ownerId, ports: target.ports },
      publish: target.publish,
      desired: decision.endpoints,
      existingSlices: claimed.slices,
      existingEndpoints: claimed.endpoints,
      endpointsTaken: claimed.foreign.some((object) => object.kind === "Endpoints"),
      takenSliceNames: claimed.foreign.flatMap((object) => (object.kind === "EndpointSlice" ? [object.name] : [])),
      memory: memoryTaken ? undefined : { next: decision.memory, existing: claimed.memory },
      status: context.dryRun ? undefined : { now: new Date(), ...report.endpoints },
    });
    changes.push(...planned);
    report.changes = changes.map(describeChange);
    if (!context.dryRun) {
      await write(report, clients, planned, context.ownerId);
      await recordChangeEvent(report, clients, { namespace: target.namespace, name: target.service, uid: serviceUid });
    }
    report.status = changes.length === 0 ? "unchanged" : context.dryRun ? "planned" : "synced";
  } catch (error) {
    report.status = "failed";
    report.error = errorMessage(error);
  }
  report.durationMs = Math.round(performance.now() - started);
  return report;
}

async function write(report: TargetReport, clients: KubeClients, changes: Change[], ownerId: string): Promise<void> {
  if (changes.length === 0) return;
  const applied = await applyChanges(clients, changes, ownerId);
  report.writes += applied.writes;
  report.conflictsRetried += applied.conflictsRetried;
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
