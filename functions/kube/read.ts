import type { V1ConfigMap, V1EndpointSlice, V1Endpoints, V1Service } from "@kubernetes/client-node";
import { ownedSelector, SERVICE_NAME, type Writer } from "../registry/labels.ts";
import { memoryName } from "../registry/remembered.ts";
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
    readService(clients, namespace, name),
    readMemoryConfigMap(clients, namespace, name),
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

/** What one writer has in a cluster, found by its labels: every EndpointSlice and Endpoints of ours, in any namespace. */
export async function readOwnedObjects(clients: KubeClients, writer: Writer): Promise<{ slices: V1EndpointSlice[]; endpoints: V1Endpoints[] }> {
  const labelSelector = ownedSelector(writer);
  const [slices, endpoints] = await Promise.all([
    clients.discovery.listEndpointSliceForAllNamespaces({ labelSelector }).catch((error: unknown) => {
      throw new KubeApiError("list our EndpointSlices in all namespaces", error);
    }),
    clients.core.listEndpointsForAllNamespaces({ labelSelector }).catch((error: unknown) => {
      throw new KubeApiError("list our Endpoints in all namespaces", error);
    }),
  ]);
  return { slices: slices.items, endpoints: endpoints.items };
}

/** A Service's memory ConfigMap, by name: the syncer may read no other ConfigMap, and lists none. */
export function readMemoryConfigMap(clients: KubeClients, namespace: string, service: string): Promise<V1ConfigMap | undefined> {
  const name = memoryName(service);
  return readOptional(`get ConfigMap ${namespace}/${name}`, () => clients.core.readNamespacedConfigMap({ namespace, name }));
}

export function readService(clients: KubeClients, namespace: string, name: string): Promise<V1Service | undefined> {
  return readOptional(`get Service ${namespace}/${name}`, () => clients.core.readNamespacedService({ namespace, name }));
}
