import type { RequestContext, ResponseContext } from "@kubernetes/client-node";
import { CoreV1Api, createConfiguration, DiscoveryV1Api, KubeConfig, ServerConfiguration } from "./client-node.ts";
import type { ClusterConfig } from "../config/schema.ts";
import { EksAccess } from "./eks.ts";
import { readStoredKubeconfig } from "./stored-kubeconfig.ts";

export interface KubeClients {
  cluster: string;
  core: CoreV1Api;
  discovery: DiscoveryV1Api;
}

/** A cluster that stops answering fails its own targets within this, instead of hanging the run. */
export const REQUEST_TIMEOUT_MS = 10_000;

const requestTimeout = {
  pre: async (request: RequestContext) => {
    request.setSignal(AbortSignal.timeout(REQUEST_TIMEOUT_MS));
    return request;
  },
  post: async (response: ResponseContext) => response,
};

function clientsFor(name: string, config: KubeConfig, context?: string): KubeClients {
  if (context !== undefined) {
    if (!config.getContextObject(context)) throw new Error(`cluster ${name}: no context ${JSON.stringify(context)} in its kubeconfig`);
    config.setCurrentContext(context);
  }
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error(`cluster ${name}: its kubeconfig names no current cluster`);
  // As KubeConfig.makeApiClient does, plus a deadline on every request.
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: config },
    promiseMiddleware: [requestTimeout],
  });
  return { cluster: name, core: new CoreV1Api(configuration), discovery: new DiscoveryV1Api(configuration) };
}

/** Clients from a kubeconfig at hand. A cluster entry with no source of its own uses KUBECONFIG or ~/.kube/config. */
export function connectCluster(cluster: ClusterConfig): KubeClients {
  const config = new KubeConfig();
  if (cluster.inCluster) {
    if (!process.env.KUBERNETES_SERVICE_HOST) throw new Error(`cluster ${cluster.name}: inCluster, but this process is not running in a cluster`);
    config.loadFromCluster();
  } else if (cluster.kubeconfigData !== undefined) config.loadFromString(cluster.kubeconfigData);
  else if (cluster.kubeconfig !== undefined) config.loadFromFile(cluster.kubeconfig);
  else config.loadFromDefault();
  return clientsFor(cluster.name, config, cluster.context);
}

/** Per cluster, once per process (a Lambda cold start): what it takes to (re)build its clients. */
interface Connection {
  clients(): Promise<KubeClients>;
}

class EksConnection implements Connection {
  readonly #name: string;
  readonly #access: EksAccess;
  #clients: KubeClients | undefined;

  constructor(cluster: ClusterConfig & { eks: NonNullable<ClusterConfig["eks"]> }) {
    this.#name = cluster.name;
    this.#access = new EksAccess(cluster.eks);
  }

  async clients(): Promise<KubeClients> {
    const [endpoint, token] = await Promise.all([this.#access.endpoint(), this.#access.token()]);
    if (!this.#clients || token.renewed) {
      const config = new KubeConfig();
      config.loadFromOptions({
        clusters: [{ name: this.#name, server: endpoint.server, caData: endpoint.caData, skipTLSVerify: false }],
        users: [{ name: this.#name, token: token.value }],
        contexts: [{ name: this.#name, cluster: this.#name, user: this.#name }],
        currentContext: this.#name,
      });
      this.#clients = clientsFor(this.#name, config);
    }
    return this.#clients;
  }
}

/** Clients made once per process, on first use; EKS tokens are renewed as they age. */
export class ClusterConnections {
  readonly #clusters: Map<string, ClusterConfig>;
  readonly #connections = new Map<string, Promise<Connection>>();

  constructor(clusters: ClusterConfig[]) {
    this.#clusters = new Map(clusters.map((cluster) => [cluster.name, cluster]));
  }

  async get(name: string): Promise<KubeClients> {
    let connection = this.#connections.get(name);
    if (!connection) {
      connection = this.#connect(name);
      this.#connections.set(name, connection);
      // A cluster that could not be reached is tried afresh next time.
      connection.catch(() => this.#connections.delete(name));
    }
    return (await connection).clients();
  }

  async #connect(name: string): Promise<Connection> {
    const cluster = this.#clusters.get(name);
    if (!cluster) throw new Error(`no cluster named ${name}`);
    if (cluster.eks) return new EksConnection({ ...cluster, eks: cluster.eks });
    if (cluster.kubeconfigParameter || cluster.kubeconfigSecret) {
      const text = await readStoredKubeconfig(cluster);
      const clients = connectCluster({ ...cluster, kubeconfigData: text, kubeconfigParameter: undefined, kubeconfigSecret: undefined });
      return { clients: async () => clients };
    }
    const clients = connectCluster(cluster);
    return { clients: async () => clients };
  }
}
