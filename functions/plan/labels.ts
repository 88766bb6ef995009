import type { V1ObjectMeta } from "@kubernetes/client-node";

export const MANAGER = "external-endpoint-syncer";
export const MANAGED_BY = "app.kubernetes.io/managed-by";
export const SLICE_MANAGED_BY = "endpointslice.kubernetes.io/managed-by";
export const SERVICE_NAME = "kubernetes.io/service-name";
export const SKIP_MIRROR = "endpointslice.kubernetes.io/skip-mirror";
/** Tells apart installations that write to the same cluster, as external-dns's owner id does. */
export const OWNER = "external-endpoint-syncer/owner";
/** The Service an object of ours other than a slice belongs to (slices use kubernetes.io/service-name). */
export const SERVICE = "external-endpoint-syncer/service";

/** Selects everything one installation wrote. */
export const ownedSelector = (ownerId: string) => `${MANAGED_BY}=${MANAGER},${OWNER}=${ownerId}`;

export const isOurs = (metadata: V1ObjectMeta | undefined, ownerId: string) =>
  metadata?.labels?.[MANAGED_BY] === MANAGER && metadata.labels[OWNER] === ownerId;

export function sliceLabels(service: string, ownerId: string): Record<string, string> {
  return { [MANAGED_BY]: MANAGER, [OWNER]: ownerId, [SLICE_MANAGED_BY]: MANAGER, [SERVICE_NAME]: service };
}

export function endpointsLabels(ownerId: string): Record<string, string> {
  // skip-mirror: the mirroring controller must not copy our Endpoints into slices beside ours.
  return { [MANAGED_BY]: MANAGER, [OWNER]: ownerId, [SKIP_MIRROR]: "true" };
}
