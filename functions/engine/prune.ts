import { applyChanges } from "../kube/apply.ts";
import type { KubeClients } from "../kube/client.ts";
import { KubeApiError } from "../kube/errors.ts";
import type { Change } from "../plan/changes.ts";
import { ownedSelector, SERVICE, SERVICE_NAME } from "../plan/labels.ts";
import type { PruneReport } from "../report/report.ts";
import { errorMessage } from "../sources/source.ts";
import { describeChange } from "./sync-target.ts";

/**
 * Deletes what this installation wrote for Services no target names any more. Found by our labels, never by
 * guessing names: slices and Endpoints across the cluster; memory ConfigMaps in the namespaces we write to
 * (reading every namespace's ConfigMaps would be more than a syncer needs to be allowed).
 */
export async function pruneCluster(
  clients: KubeClients,
  ownerId: string,
  services: Set<string>,
  namespaces: Set<string>,
  dryRun: boolean,
): Promise<PruneReport> {
  const report: PruneReport = { cluster: clients.cluster, changes: [] };
  try {
    const labelSelector = ownedSelector(ownerId);
    const [slices, endpoints] = await Promise.all([
      clients.discovery.listEndpointSliceForAllNamespaces({ labelSelector }).catch((error: unknown) => {
        throw new KubeApiError("list our EndpointSlices in all namespaces", error);
      }),
      clients.core.listEndpointsForAllNamespaces({ labelSelector }).catch((error: unknown) => {
        throw new KubeApiError("list our Endpoints in all namespaces", error);
      }),
    ]);
    const orphan = (namespace: string | undefined, service: string | undefined) => !services.has(`${namespace}/${service}`);
    const touched = new Set([...namespaces, ...[...slices.items, ...endpoints.items].map((item) => item.metadata?.namespace ?? "")]);
    const memories = await Promise.all(
      [...touched].map((namespace) =>
        clients.core.listNamespacedConfigMap({ namespace, labelSelector }).then(
          (list) => list.items,
          (error: unknown) => {
            throw new KubeApiError(`list our ConfigMaps in ${namespace}`, error);
          },
        ),
      ),
    );
    const changes: Change[] = [
      ...slices.items
        .filter((slice) => orphan(slice.metadata?.namespace, slice.metadata?.labels?.[SERVICE_NAME]))
        .map((slice): Change => ({ action: "delete", object: { ...slice, kind: "EndpointSlice" }, endpoints: [] })),
      ...endpoints.items
        .filter((item) => orphan(item.metadata?.namespace, item.metadata?.name))
        .map((item): Change => ({ action: "delete", object: { ...item, kind: "Endpoints" }, endpoints: [] })),
      ...memories
        .flat()
        .filter((item) => orphan(item.metadata?.namespace, item.metadata?.labels?.[SERVICE]))
        .map((item): Change => ({ action: "delete", object: { ...item, kind: "ConfigMap" }, endpoints: [] })),
    ];
    report.changes = changes.map(describeChange);
    if (!dryRun && changes.length > 0) await applyChanges(clients, changes, ownerId);
  } catch (error) {
    report.error = errorMessage(error);
  }
  return report;
}
