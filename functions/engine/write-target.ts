import { withTrippedGuards } from "../decide/decide-target.ts";
import type { GuardTrip } from "../decide/guards.ts";
import { errorMessage } from "../errors.ts";
import { ApplyError, applyChanges, type ApplyResult } from "../kube/apply.ts";
import type { KubeClients } from "../kube/client.ts";
import { describeEndpointChanges, eventMessage, recordServiceEvent, type ServiceEvent } from "../kube/events.ts";
import { readMemoryConfigMap, readService } from "../kube/read.ts";
import type { Change } from "../plan/changes.ts";
import { planMemory } from "../plan/memory-configmap.ts";
import type { ServiceRef } from "../plan/owner.ts";
import { planTarget, planWithheld } from "../plan/plan.ts";
import { buildService } from "../plan/service.ts";
import type { Writer } from "../registry/labels.ts";
import { claimMemory } from "../registry/ownership.ts";
import { readMemory } from "../registry/remembered.ts";
import { serviceProblem } from "../registry/service-check.ts";
import { isDegraded, type ChangeReport, type TargetReport } from "../report/report.ts";
import { countReady, TargetError, type CheckedTarget, type Refusal, type ServiceKey, type TargetContext } from "./check-target.ts";

/**
 * plan → apply for a checked target. `withheld`: the run's checker self-check tripped, so nothing it decided is
 * written; only the status stamp (when due) and the tripped guard, which raises a Warning Event. Never throws:
 * a failure is the target's report.
 */
export async function writeTarget(checked: CheckedTarget, context: TargetContext, withheld?: GuardTrip): Promise<TargetReport> {
  const { target, report, decided, refusal, failedAt } = checked;
  if (refusal) await writeRefusal(report, refusal, context.dryRun, context.writer);
  if (failedAt && !context.dryRun) {
    const service: ServiceRef = { namespace: target.namespace, name: target.service, uid: failedAt.uid, writer: context.writer, ports: target.ports };
    await noteSyncFailed(report, failedAt.clients, service, failedAt.remembered);
  }
  if (!decided) {
    report.durationMs = Math.round(performance.now() - checked.started);
    return report;
  }
  const { clients, service, claimed } = decided;
  let serviceUid = service?.metadata?.uid;
  const memoryTaken = claimed.foreign.some((object) => object.kind === "ConfigMap");
  try {
    const changes: Change[] = [];
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
          // The failure noted stays until noteSyncFailed, after the writes, knows whether they failed.
          memory: memoryTaken ? undefined : { next: { ...decided.memory, ...(decided.remembered.syncFailed !== undefined && { syncFailed: decided.remembered.syncFailed }) }, existing: claimed.memory, stored: decided.remembered },
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
    report.status = isDegraded(report) ? "degraded" : changes.length === 0 ? "unchanged" : context.dryRun ? "planned" : "synced";
  } catch (error) {
    report.status = "failed";
    report.error = errorMessage(error);
  }
  if (!context.dryRun && serviceUid !== undefined && !memoryTaken) {
    const serviceRef: ServiceRef = { namespace: target.namespace, name: target.service, uid: serviceUid, writer: context.writer, ports: target.ports };
    await noteSyncFailed(report, clients, serviceRef, decided.remembered.syncFailed);
  }
  report.durationMs = Math.round(performance.now() - checked.started);
  return report;
}

/**
 * A Warning Event SyncFailed when the Service's sync starts failing or fails in a new way, and the failure
 * remembered in the memory ConfigMap (read afresh: this run may have written it), so that a failure repeated run
 * after run raises one Event, not one a run; the first success forgets it, so the next failure is news again.
 * Reads and writes only when that changes.
 */
async function noteSyncFailed(report: TargetReport, clients: KubeClients, service: ServiceRef, remembered: string | undefined): Promise<void> {
  const message = report.status === "failed" ? eventMessage(report.error ?? "failed") : undefined;
  if (message === remembered) return;
  try {
    const { memory: existing, foreign } = claimMemory(await readMemoryConfigMap(clients, service.namespace, service.name), service.writer);
    // Nowhere to remember it: an Event every run would flood the namespace.
    if (foreign.length > 0) return;
    if (message !== undefined) await recordServiceEvent(clients, service, { type: "Warning", reason: "SyncFailed", message });
    const { memory: stored } = readMemory(existing, service.writer);
    const { syncFailed: _previous, ...rest } = stored;
    await write(report, clients, planMemory(service, { next: message === undefined ? rest : { ...rest, syncFailed: message }, existing, stored }), service.writer);
  } catch (error) {
    report.warnings.push(errorMessage(error));
  }
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
