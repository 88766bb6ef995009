import { createHash } from "node:crypto";
import type { RequestContext, ResponseContext } from "@kubernetes/client-node";
import { CoreV1Api, createConfiguration, DiscoveryV1Api, KubeConfig, ServerConfiguration } from "./client-node.ts";
import type { ClusterConfig } from "../config/schema.ts";
import { EksAccess } from "./eks.ts";
import { defaultKubeconfig, kubeconfigFromFile, kubeconfigFromText } from "./kubeconfig.ts";
import { readStoredKubeconfig } from "./stored-kubeconfig.ts";
import { USER_AGENT } from "../version.ts";

export interface KubeClients {
  cluster: string;
  core: CoreV1Api;
  discovery: DiscoveryV1Api;
}

/** A cluster that stops answering fails its own targets within this, instead of hanging the run. */
export const REQUEST_TIMEOUT_MS = 10_000;

/** A deadline on every request, and the release in its User-Agent (the audit log's `userAgent`). */
const everyRequest = {
  pre: async (request: RequestContext) => {
    request.setSignal(AbortSignal.timeout(REQUEST_TIMEOUT_MS));
    request.setHeaderParam("User-Agent", USER_AGENT);
    return request;
  },
  post: async (response: ResponseContext) => response,
};

function clientsFor(name: string, config: KubeConfig, context?: string): KubeClients {
  if (context !== undefined) {
    if (!config.getContextObject(context)) throw new Error(`cluster ${name}: no context ${JSON.stringify(context)} in its kubeconfig`);
    config.setCurrentContext(context);
  }
  reuseConnections(config);
  const cluster = config.getCurrentCluster();
  if (!cluster) throw new Error(`cluster ${name}: its kubeconfig names no current cluster`);
  // As KubeConfig.makeApiClient does, plus a deadline and our User-Agent on every request.
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: quietAuthentication(name, config) },
    promiseMiddleware: [everyRequest],
  });
  return { cluster: name, core: new CoreV1Api(configuration), discovery: new DiscoveryV1Api(configuration) };
}

/** client-node's undici Agent, as far as we use it. */
interface Dispatcher {
  close(): Promise<void>;
}

interface DispatcherMaker {
  createDispatcher(cluster: unknown, agentOptions: unknown): Dispatcher | undefined;
}

/**
 * client-node 2.0.1 makes a new undici Agent for every request that carries a CA or a client certificate: a TLS
 * handshake each time, and a connection pool left to idle out, which a process that syncs every few seconds
 * piles up. One Agent per set of TLS options instead (a new set, as from an exec plugin's new certificate,
 * replaces it), so connections are kept across requests and runs, over HTTP/1.1.
 */
function reuseConnections(config: KubeConfig): void {
  const maker = config as unknown as DispatcherMaker;
  if (typeof maker.createDispatcher !== "function") throw new Error("@kubernetes/client-node has no KubeConfig.createDispatcher: see reuseConnections in kube/client.ts");
  const dispatcherOptions = config.createDispatcherOptions.bind(config);
  // HTTP/1.1: over HTTP/2 the API server answers bad credentials with a GOAWAY, which fails every request in
  // flight on that connection with a transport error instead of its own 401; HTTP/1.1 gives each its own socket.
  config.createDispatcherOptions = (cluster, agentOptions) => {
    const options = dispatcherOptions(cluster, agentOptions);
    return options.type === "agent" ? { ...options, connect: { ...options.connect, allowH2: false } as typeof options.connect } : options;
  };
  const make = maker.createDispatcher.bind(config);
  let current: { key: string; dispatcher: Dispatcher | undefined } | undefined;
  maker.createDispatcher = (cluster, agentOptions) => {
    const options = config.createDispatcherOptions(cluster as Parameters<KubeConfig["createDispatcherOptions"]>[0], agentOptions as Parameters<KubeConfig["createDispatcherOptions"]>[1]);
    const key = createHash("sha256").update(JSON.stringify(options)).digest("hex");
    if (current?.key !== key) {
      // Requests under way on the old one finish first.
      void current?.dispatcher?.close().catch(() => undefined);
      current = { key, dispatcher: make(cluster, agentOptions) };
    }
    return current.dispatcher;
  };
}

/**
 * The kubeconfig's credentials, applied to each request, with failures told without their text: an exec
 * plugin's error is its stderr, and a plugin whose output is not JSON fails with a piece of it, the token.
 */
function quietAuthentication(name: string, config: KubeConfig) {
  return {
    getName: () => config.getName(),
    async applySecurityAuthentication(context: RequestContext): Promise<void> {
      try {
        await config.applySecurityAuthentication(context);
      } catch (error) {
        const user = config.getCurrentUser();
        const source = user?.exec ? "its exec plugin" : user?.authProvider ? `its auth-provider ${JSON.stringify(user.authProvider.name)}` : "its credentials or certificates";
        const code = (error as NodeJS.ErrnoException).code;
        throw new Error(`cluster ${name}: the kubeconfig's user cannot authenticate: ${source} failed${code ? ` (${code})` : ""}; its output is not shown, as it may hold secrets`);
      }
    },
  };
}

/** Clients from a kubeconfig at hand. A cluster entry with no source of its own uses KUBECONFIG or ~/.kube/config. */
export function connectCluster(cluster: ClusterConfig): KubeClients {
  return clientsFor(cluster.name, localKubeconfig(cluster), cluster.context);
}

function localKubeconfig(cluster: ClusterConfig): KubeConfig {
  if (cluster.inCluster) {
    if (!process.env.KUBERNETES_SERVICE_HOST) throw new Error(`cluster ${cluster.name}: inCluster, but this process is not running in a cluster`);
    const config = new KubeConfig();
    config.loadFromCluster();
    return config;
  }
  if (cluster.kubeconfigData !== undefined) {
    return kubeconfigFromText(cluster.kubeconfigData, { cluster: cluster.name, where: "kubeconfigData", stored: true, allowAuthPlugins: cluster.allowAuthPlugins });
  }
  if (cluster.kubeconfig !== undefined) return kubeconfigFromFile(cluster.kubeconfig, cluster.name);
  return defaultKubeconfig(cluster.name);
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
    const stored = cluster.kubeconfigParameter || cluster.kubeconfigSecret ? await readStoredKubeconfig(cluster) : undefined;
    const clients = stored ? clientsFor(cluster.name, stored, cluster.context) : connectCluster(cluster);
    return { clients: async () => clients };
  }
}
