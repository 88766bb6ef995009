import type { V1EndpointSlice, V1Endpoints } from "@kubernetes/client-node";
import type { DesiredEndpoint } from "../model.ts";
import type { Change } from "./changes.ts";
import { planEndpointSlices } from "./endpoint-slices.ts";
import { planEndpoints } from "./endpoints.ts";
import { planMemory, type MemoryPlan } from "./memory-configmap.ts";
import { planStatus, type SyncStatus } from "./status.ts";
import type { ServiceRef } from "./owner.ts";

export interface PlanInput {
  service: ServiceRef;
  publish: { endpointSlices: boolean; endpoints: boolean };
  desired: DesiredEndpoint[];
  /** Our own objects for this Service (adopted ones included), as read from the cluster. */
  existingSlices: V1EndpointSlice[];
  existingEndpoints: V1Endpoints | undefined;
  /** An Endpoints of someone else's stands where ours would: leave it, write none. */
  endpointsTaken: boolean;
  /** Names of slices of someone else's, never to be reused. */
  takenSliceNames: string[];
  maxEndpointsPerSlice?: number;
  /** What to remember until the next run; undefined when a ConfigMap of someone else's holds our name. */
  memory?: MemoryPlan;
  /** The heartbeat to stamp on our first slice; none in a dry run. */
  status?: SyncStatus;
}

/** Pure: desired against existing, to the writes that close the gap. Nothing to change gives no changes. */
export function planTarget(input: PlanInput): Change[] {
  const { service, publish, desired } = input;
  const slices = planEndpointSlices(service, publish.endpointSlices ? desired : [], input.existingSlices, input.takenSliceNames, input.maxEndpointsPerSlice);
  return [
    ...(input.status ? planStatus(slices, input.existingSlices, input.status) : slices),
    ...(input.endpointsTaken ? [] : planEndpoints(service, publish.endpoints ? desired : undefined, input.existingEndpoints)),
    ...(input.memory ? planMemory(service, input.memory) : []),
  ];
}

/**
 * Pure: the writes of a run whose checker self-check tripped. Nothing decided is written, only the status stamp
 * (when due) and the memory's note of the tripped guard, so the syncer does not look dead and an Event marks
 * when that starts and ends.
 */
export function planWithheld(input: {
  service: ServiceRef;
  existingSlices: V1EndpointSlice[];
  memory?: MemoryPlan;
  status?: SyncStatus;
}): Change[] {
  return [...(input.status ? planStatus([], input.existingSlices, input.status) : []), ...(input.memory ? planMemory(input.service, input.memory) : [])];
}
