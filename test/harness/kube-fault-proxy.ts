// A proxy between the syncer and a real kube-apiserver that injects the faults a busy or failing API server
// makes: 409 storms on writes, 500 and 503 answers, connections reset before the request reaches the server
// or after it did (the write landed, the answer is lost), and stalls past the client's deadline. It can also
// kill the syncer's process right after a chosen write went through ("kill mid-apply"). Each fault is counted
// by kind. The syncer reaches it over plain HTTP on loopback (client-node allows http only with
// insecure-skip-tls-verify); it forwards over TLS, verifying the API server's certificate.
import { readFile, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { Agent, request } from "node:https";
import type { Socket } from "node:net";
import path from "node:path";
import YAML from "yaml";

export type KubeFaultKind =
  | "conflict409"
  | "serverError500"
  | "unavailable503"
  | "resetBeforeServer"
  | "resetAfterServer"
  | "stallPastDeadline"
  | "killMidApply";

export const KUBE_FAULT_KINDS: KubeFaultKind[] = [
  "conflict409",
  "serverError500",
  "unavailable503",
  "resetBeforeServer",
  "resetAfterServer",
  "stallPastDeadline",
  "killMidApply",
];

/** What the proxy does to the requests it sees until told otherwise; each rate is a chance per request. */
export interface KubeFaultPlan {
  /** Writes (POST, PUT, PATCH, DELETE) answered 409 Conflict without reaching the server. */
  conflictRate?: number;
  /** Any request answered 500 or 503 (half each) without reaching the server. */
  serverErrorRate?: number;
  /** Any request's connection reset: half before it reaches the server, half after (the answer cut short). */
  resetRate?: number;
  /** Writes whose path matches answered 503 without reaching the server: one chosen write fails. */
  unavailableFor?: RegExp;
}

export interface KubeFaultProxy {
  /** A kubeconfig like the syncer's own, pointing at the proxy. */
  kubeconfig: string;
  /** Faults injected so far, by kind. */
  injected: Record<KubeFaultKind, number>;
  plan(faults: KubeFaultPlan): void;
  /** The next write reaches the server, and its answer is withheld until the client gives up. */
  armStall(): void;
  /** Drops an armed stall that found no write to hold. */
  disarmStall(): void;
  /** After `writes` more writes went through (the server answered them), `kill` is called once. */
  armKill(writes: number, kill: () => void): void;
  /** Drops an armed kill that did not fire; returns whether it had fired. */
  disarmKill(): boolean;
  /** Resolves when no forwarded request is still on its way to or from the server. */
  settled(): Promise<void>;
  stop(): Promise<void>;
}

const WRITE_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);

interface Kubeconfig {
  clusters: { name: string; cluster: { server: string; "certificate-authority"?: string } }[];
  users: { name: string; user: { token?: string } }[];
  contexts: unknown[];
  "current-context": string;
}

/** `random` decides each fault, so a seeded one replays the same schedule for the same requests. */
export async function startKubeFaultProxy(kubeconfigPath: string, random: () => number): Promise<KubeFaultProxy> {
  const original = YAML.parse(await readFile(kubeconfigPath, "utf8")) as Kubeconfig;
  const cluster = original.clusters[0]!.cluster;
  const upstream = new URL(cluster.server);
  const caFile = cluster["certificate-authority"];
  const agent = new Agent({ keepAlive: true, ...(caFile && { ca: await readFile(path.resolve(path.dirname(kubeconfigPath), caFile)) }) });

  const injected = Object.fromEntries(KUBE_FAULT_KINDS.map((kind) => [kind, 0])) as Record<KubeFaultKind, number>;
  let faults: KubeFaultPlan = {};
  let stallArmed = false;
  let kill: { after: number; fired: boolean; call: () => void } | undefined;
  const stalled = new Set<Socket>();
  let inFlight = 0;
  let onSettled: (() => void)[] = [];
  const settle = () => {
    if (inFlight > 0) return;
    const waiting = onSettled;
    onSettled = [];
    for (const resolve of waiting) resolve();
  };

  const status = (response: ServerResponse, code: number, reason: string, message: string) => {
    response.writeHead(code, { "content-type": "application/json" });
    response.end(JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code }));
  };

  const server = createServer(async (incoming, response) => {
    const write = WRITE_METHODS.has(incoming.method ?? "");
    // A client that gave up mid-request leaves nothing to answer.
    const body = await readBody(incoming).catch(() => undefined);
    if (body === undefined) return;
    if (write && random() < (faults.conflictRate ?? 0)) {
      injected.conflict409++;
      return status(response, 409, "Conflict", "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again (injected)");
    }
    if (write && faults.unavailableFor?.test(incoming.url ?? "")) {
      injected.unavailable503++;
      return status(response, 503, "ServiceUnavailable", "the server is currently unable to handle the request (injected)");
    }
    if (random() < (faults.serverErrorRate ?? 0)) {
      if (random() < 0.5) {
        injected.serverError500++;
        return status(response, 500, "InternalError", "Internal error occurred: injected");
      }
      injected.unavailable503++;
      return status(response, 503, "ServiceUnavailable", "the server is currently unable to handle the request (injected)");
    }
    let reset: "before" | "after" | undefined;
    if (random() < (faults.resetRate ?? 0)) reset = random() < 0.5 ? "before" : "after";
    if (reset === "before") {
      injected.resetBeforeServer++;
      incoming.socket.destroy();
      return;
    }
    const stall = write && stallArmed;
    if (stall) stallArmed = false;

    inFlight++;
    let finished = false;
    // Called from the answer and from the request's error, whichever comes; counted once.
    const done = () => {
      if (finished) return;
      finished = true;
      inFlight--;
      settle();
    };
    const headers = { ...incoming.headers, host: upstream.host };
    const outgoing = request(
      { host: upstream.hostname, port: upstream.port, method: incoming.method, path: incoming.url, headers, agent },
      (answer) => {
        readBody(answer).then((answerBody) => {
          done();
          if (stall) {
            // The write is in; the client hears nothing until its own deadline closes the connection.
            injected.stallPastDeadline++;
            stalled.add(incoming.socket);
            incoming.socket.once("close", () => stalled.delete(incoming.socket));
            return;
          }
          if (reset === "after") {
            injected.resetAfterServer++;
            // Half an answer, then the connection goes: the client cannot tell whether the write landed.
            response.writeHead(answer.statusCode ?? 502, answer.headers);
            response.write(answerBody.subarray(0, Math.floor(answerBody.length / 2)));
            incoming.socket.destroy();
            return;
          }
          response.writeHead(answer.statusCode ?? 502, answer.headers);
          response.end(answerBody);
          const accepted = (answer.statusCode ?? 500) < 300;
          if (write && accepted && kill && !kill.fired && --kill.after === 0) {
            kill.fired = true;
            injected.killMidApply++;
            kill.call();
          }
        }, (error: unknown) => {
          done();
          response.destroy(error as Error);
        });
      },
    );
    outgoing.on("error", (error) => {
      done();
      response.destroy(error);
    });
    outgoing.end(body);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };

  const kubeconfig = path.join(path.dirname(kubeconfigPath), `fault-proxy-${port}.kubeconfig`);
  const proxied: Kubeconfig = {
    ...original,
    clusters: original.clusters.map((entry) => ({ ...entry, cluster: { server: `http://127.0.0.1:${port}`, "insecure-skip-tls-verify": true } as Kubeconfig["clusters"][0]["cluster"] })),
  };
  await writeFile(kubeconfig, YAML.stringify(proxied), { mode: 0o600 });

  return {
    kubeconfig,
    injected,
    plan(next) {
      faults = { ...next };
    },
    armStall() {
      stallArmed = true;
    },
    disarmStall() {
      stallArmed = false;
    },
    armKill(writes, call) {
      kill = { after: writes, fired: false, call };
    },
    disarmKill() {
      const fired = kill?.fired ?? false;
      kill = undefined;
      return fired;
    },
    settled: () => new Promise<void>((resolve) => {
      onSettled.push(resolve);
      settle();
    }),
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of stalled) socket.destroy();
        server.closeAllConnections();
        server.close(() => {
          agent.destroy();
          resolve();
        });
      }),
  };
}

async function readBody(stream: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
