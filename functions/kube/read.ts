import type { V1ConfigMap, V1EndpointSlice, V1Endpoints, V1Service } from "@kubernetes/client-node";
import { SERVICE_NAME } from "../plan/labels.ts";
import { memoryName } from "../plan/memory.ts";
import type { KubeClients } from "./client.ts";
import { KubeApiError, readOptional } from "./errors.ts";

/** Everything in the cluster that one target's plan depends on, whoever manages it. */
export interface TargetState {
  service: V1Service | undefined;
  slices: V1EndpointSlice[];
  endpoints: V1Endpoints | undefined;
  memory: V1ConfigMap | undefined;
}

/**
 * The four reads of one target per run, started at once. `early` is what is needed before probing: the
 * Service, which may stop the target, and our memory, which orders the probes. `published`, the largest
 * part, is read while the backends are probed.
 */
export function readTargetState(
  clients: KubeClients,
  namespace: string,
  name: string,
): { early: Promise<Pick<TargetState, "service" | "memory">>; published: Promise<Pick<TargetState, "slices" | "endpoints">> } {
  const early = Promise.all([
    readOptional(`get Service ${namespace}/${name}`, () => clients.core.readNamespacedService({ namespace, name })),
    readOptional(`get ConfigMap ${namespace}/${memoryName(name)}`, () => clients.core.readNamespacedConfigMap({ namespace, name: memoryName(name) })),
  ]).then(([service, memory]) => ({ service, memory }));
  const published = Promise.all([
    clients.discovery.listNamespacedEndpointSlice({ namespace, labelSelector: `${SERVICE_NAME}=${name}` }).then(
      (list) => list.items,
      (error: unknown) => {
        throw new KubeApiError(`list EndpointSlices of ${namespace}/${name}`, error);
      },
    ),
    readOptional(`get Endpoints ${namespace}/${name}`, () => clients.core.readNamespacedEndpoints({ namespace, name })),
  ]).then(([slices, endpoints]) => ({ slices, endpoints }));
  // Awaited once the probes are done; a target that fails before then leaves it unheard, not unhandled.
  published.catch(() => {});
  return { early, published };
}
