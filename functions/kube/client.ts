import { CoreV1Api, DiscoveryV1Api, KubeConfig } from "@kubernetes/client-node";
import type { ClusterConfig } from "../config/schema.ts";

export interface KubeClients {
  cluster: string;
  core: CoreV1Api;
  discovery: DiscoveryV1Api;
}

/** Builds the clients for one cluster. A cluster entry with no source of its own uses KUBECONFIG or ~/.kube/config. */
export function connectCluster(cluster: ClusterConfig): KubeClients {
  const config = new KubeConfig();
  if (cluster.inCluster) config.loadFromCluster();
  else if (cluster.kubeconfigData !== undefined) config.loadFromString(cluster.kubeconfigData);
  else if (cluster.kubeconfig !== undefined) config.loadFromFile(cluster.kubeconfig);
  else config.loadFromDefault();
  if (cluster.context !== undefined) {
    if (!config.getContextObject(cluster.context)) throw new Error(`cluster ${cluster.name}: no context ${JSON.stringify(cluster.context)} in its kubeconfig`);
    config.setCurrentContext(cluster.context);
  }
  if (!config.getCurrentCluster()) throw new Error(`cluster ${cluster.name}: its kubeconfig names no current cluster`);
  return { cluster: cluster.name, core: config.makeApiClient(CoreV1Api), discovery: config.makeApiClient(DiscoveryV1Api) };
}

/** Clients made once per process (a Lambda cold start), on first use. */
export class ClusterConnections {
  readonly #clusters: Map<string, ClusterConfig>;
  readonly #connected = new Map<string, KubeClients>();

  constructor(clusters: ClusterConfig[]) {
    this.#clusters = new Map(clusters.map((cluster) => [cluster.name, cluster]));
  }

  get(name: string): KubeClients {
    let clients = this.#connected.get(name);
    if (!clients) {
      const cluster = this.#clusters.get(name);
      if (!cluster) throw new Error(`no cluster named ${name}`);
      clients = connectCluster(cluster);
      this.#connected.set(name, clients);
    }
    return clients;
  }
}
