import { connect as connectTcp, isIPv6, type Socket } from "node:net";
import { connect as connectTls, type ConnectionOptions } from "node:tls";
import { ProbeFailure, probeTimer } from "./probe.ts";

export interface ConnectOptions {
  host: string;
  port: number;
  /** The TCP connection's own limit; the handshake counts against the attempt's total. */
  connectTimeoutMs: number;
  /** Set to speak TLS: resolves once the handshake (and the certificate check) is done. */
  tls?: ConnectionOptions;
  /** Aborting it destroys the socket, whatever stage it is at. */
  signal: AbortSignal;
}

/** Opens a TCP or TLS connection; the caller destroys it when done. */
export function openConnection(options: ConnectOptions): Promise<Socket> {
  const { host, port, connectTimeoutMs, tls, signal } = options;
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const socket: Socket = tls ? connectTls({ ...tls, host, port }) : connectTcp({ host, port });
    const onAbort = () => socket.destroy(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    socket.once("close", () => signal.removeEventListener("abort", onAbort));
    const cancelConnectTimer = probeTimer(() => socket.destroy(new ProbeFailure("Timeout", `no connection within ${connectTimeoutMs} ms`)), connectTimeoutMs);
    socket.once("connect", cancelConnectTimer);
    socket.once(tls ? "secureConnect" : "connect", () => resolve(socket));
    // Stays attached: an error after the caller took over reaches the caller's own listener too.
    socket.on("error", (error) => {
      cancelConnectTimer();
      reject(error);
    });
  });
}

/** `host:port` as it goes in a Host header or a gRPC target. */
export const hostPort = (host: string, port: number) => (isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`);

/** Where and how long one check probes. */
export interface CheckTiming {
  /** The check's own port, if it names one. */
  port: number | undefined;
  /** The target's first port. */
  defaultPort: number;
  timeoutMs: number;
  connectTimeoutMs: number;
}

/** The check's port, else the backend's own (an SRV record, an EC2 port tag), else the target's. */
export const probePort = (timing: CheckTiming, backend: { port?: number }) => timing.port ?? backend.port ?? timing.defaultPort;
