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

/** Four reads, once per target per run. */
export async function readTargetState(clients: KubeClients, namespace: string, name: string): Promise<TargetState> {
  const [service, slices, endpoints, memory] = await Promise.all([
    readOptional(`get Service ${namespace}/${name}`, () => clients.core.readNamespacedService({ namespace, name })),
    clients.discovery.listNamespacedEndpointSlice({ namespace, labelSelector: `${SERVICE_NAME}=${name}` }).then(
      (list) => list.items,
      (error: unknown) => {
        throw new KubeApiError(`list EndpointSlices of ${namespace}/${name}`, error);
      },
    ),
    readOptional(`get Endpoints ${namespace}/${name}`, () => clients.core.readNamespacedEndpoints({ namespace, name })),
    readOptional(`get ConfigMap ${namespace}/${memoryName(name)}`, () => clients.core.readNamespacedConfigMap({ namespace, name: memoryName(name) })),
  ]);
  return { service, slices, endpoints, memory };
}
