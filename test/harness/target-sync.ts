// What the source integration tests share: run the engine for some targets against a test cluster, as the
// syncer's least-privilege user, and read back what it published, as cluster-admin.
import assert from "node:assert/strict";
import type { V1EndpointSlice, V1Endpoints } from "@kubernetes/client-node";
import { runSync } from "../../functions/engine/run.ts";
import { ClusterConnections } from "../../functions/kube/client.ts";
import type { RunReport } from "../../functions/report/report.ts";
import { selectorlessService, testConfig, type TestCluster } from "./cluster.ts";

/** One published endpoint as a test compares it. */
export interface PublishedEndpoint {
  ready: boolean | undefined;
  serving: boolean | undefined;
  terminating: boolean | undefined;
  ports: string;
  hostname?: string;
  zone?: string;
}

export interface TargetSyncer {
  sync(targets: Record<string, unknown>[]): Promise<RunReport>;
  /** `sync`, failing the test when any target or source failed. */
  syncOk(targets: Record<string, unknown>[]): Promise<RunReport>;
  createService(name: string, ports: { name?: string; port: number }[]): Promise<void>;
  slicesOf(service: string): Promise<V1EndpointSlice[]>;
  endpointsOf(service: string): Promise<V1Endpoints>;
  /** Address → what the slices say about it; `ports` as `name:port,...`. */
  published(service: string): Promise<Record<string, PublishedEndpoint>>;
}

export function targetSyncer(cluster: TestCluster, namespace: string): TargetSyncer {
  const slicesOf = async (service: string) =>
    (await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace, labelSelector: `kubernetes.io/service-name=${service}` })).items;
  const sync = async (targets: Record<string, unknown>[]) => {
    const config = testConfig({
      clusters: [{ name: "test", kubeconfig: cluster.kubeconfig }],
      targets: targets.map((target) => ({ cluster: "test", namespace, ...target })),
    });
    await cluster.grant(config);
    return runSync(config, new ClusterConnections(config.clusters));
  };
  return {
    sync,
    async syncOk(targets) {
      const report = await sync(targets);
      for (const target of report.targets) assert.equal(target.status === "failed" ? target.error : "ok", "ok");
      for (const target of report.targets) for (const source of target.sources) assert.equal(source.error, undefined, `source ${source.name}`);
      return report;
    },
    async createService(name, ports) {
      await cluster.admin.core.createNamespacedService({ namespace, body: selectorlessService(namespace, name, ports) });
    },
    slicesOf,
    endpointsOf: (service) => cluster.admin.core.readNamespacedEndpoints({ namespace, name: service }),
    async published(service) {
      const entries = (await slicesOf(service)).flatMap((slice) =>
        (slice.endpoints ?? []).map((endpoint): [string, PublishedEndpoint] => [
          endpoint.addresses[0]!,
          {
            ready: endpoint.conditions?.ready,
            serving: endpoint.conditions?.serving,
            terminating: endpoint.conditions?.terminating,
            ports: (slice.ports ?? []).map((port) => `${port.name ?? ""}:${port.port}`).join(","),
            ...(endpoint.hostname !== undefined && { hostname: endpoint.hostname }),
            ...(endpoint.zone !== undefined && { zone: endpoint.zone }),
          },
        ]),
      );
      return Object.fromEntries(entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    },
  };
}

/** The syncer's writes to EndpointSlices and Endpoints since `mark`, as `verb resource/name`. */
export async function endpointWritesSince(cluster: TestCluster, mark: number): Promise<string[]> {
  return (await cluster.syncerWritesSince(mark))
    .filter((event) => event.objectRef?.resource === "endpointslices" || event.objectRef?.resource === "endpoints")
    .map((event) => `${event.verb} ${event.objectRef?.resource}/${event.objectRef?.name}`);
}
