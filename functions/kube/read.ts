import type { V1EndpointSlice, V1Endpoints, V1Service } from "@kubernetes/client-node";
import { SERVICE_NAME } from "../plan/labels.ts";
import type { KubeClients } from "./client.ts";
import { KubeApiError, readOptional } from "./errors.ts";

/** Everything in the cluster that one target's plan depends on, whoever manages it. */
export interface TargetState {
  service: V1Service | undefined;
  slices: V1EndpointSlice[];
  endpoints: V1Endpoints | undefined;
}

/** Three reads, once per target per run. */
export async function readTargetState(clients: KubeClients, namespace: string, name: string): Promise<TargetState> {
  const [service, slices, endpoints] = await Promise.all([
    readOptional(`get Service ${namespace}/${name}`, () => clients.core.readNamespacedService({ namespace, name })),
    clients.discovery.listNamespacedEndpointSlice({ namespace, labelSelector: `${SERVICE_NAME}=${name}` }).then(
      (list) => list.items,
      (error: unknown) => {
        throw new KubeApiError(`list EndpointSlices of ${namespace}/${name}`, error);
      },
    ),
    readOptional(`get Endpoints ${namespace}/${name}`, () => clients.core.readNamespacedEndpoints({ namespace, name })),
  ]);
  return { service, slices, endpoints };
}
