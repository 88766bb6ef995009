import type { ChannelCredentials } from "@grpc/grpc-js";
import type { Backend, Verdict } from "../model.ts";
import type { Check } from "./check.ts";
import { hostPort, probePort, type CheckTiming } from "./connect.ts";
import { decodeHealthCheckResponse, encodeHealthCheckRequest, HEALTH_CHECK_METHOD, type ServingStatus } from "./grpc-health-codec.ts";
import { elapsed, failed, passed, ProbeFailure, withDeadline } from "./probe.ts";
import type { TlsMaterial } from "./tls-material.ts";

type Grpc = typeof import("@grpc/grpc-js");

// What grpc-js says in an UNAVAILABLE status's details, to the reason it stands for.
const UNAVAILABLE_REASONS: [RegExp, Verdict["reason"]][] = [
  [/ECONNREFUSED/, "ConnRefused"],
  [/ECONNRESET|EPIPE/, "ConnReset"],
  [/EHOSTUNREACH|ENETUNREACH|EHOSTDOWN/, "Unreachable"],
  [/certificate|self[- ]signed|unable to verify|altnames|CERT_/i, "TLSVerify"],
  [/ERR_SSL|ssl|tls/i, "TLSError"],
];

/**
 * grpc.health.v1.Health/Check for `service`, over a channel of its own per probe (a shared one would reuse
 * a connection, and prove nothing about a new one). grpc-js is loaded only when a target has a grpc check.
 */
export class GrpcCheck implements Check {
  readonly kind = "grpc";
  readonly #grpc: Grpc;
  readonly #timing: CheckTiming;
  readonly #service: string;
  readonly #credentials: ChannelCredentials;
  readonly #channelOptions: Record<string, string | number>;

  static async create(timing: CheckTiming, service: string, tls: TlsMaterial | undefined): Promise<GrpcCheck> {
    return new GrpcCheck(await import("@grpc/grpc-js"), timing, service, tls);
  }

  private constructor(grpc: Grpc, timing: CheckTiming, service: string, tls: TlsMaterial | undefined) {
    this.#grpc = grpc;
    this.#timing = timing;
    this.#service = service;
    this.#credentials = tls
      ? grpc.credentials.createSsl(
          tls.ca === undefined ? null : Buffer.from(tls.ca),
          tls.key === undefined ? null : Buffer.from(tls.key),
          tls.cert === undefined ? null : Buffer.from(tls.cert),
          { rejectUnauthorized: !tls.insecureSkipVerify },
        )
      : grpc.credentials.createInsecure();
    this.#channelOptions = {
      "grpc.use_local_subchannel_pool": 1,
      "grpc.enable_retries": 0,
      ...(tls?.serverName ? { "grpc.ssl_target_name_override": tls.serverName, "grpc.default_authority": tls.serverName } : {}),
    };
  }

  probe(backend: Backend, runSignal: AbortSignal): Promise<Verdict> {
    const grpc = this.#grpc;
    const { timeoutMs, connectTimeoutMs } = this.#timing;
    return withDeadline(timeoutMs, runSignal, (signal, started) => {
      const client = new grpc.Client(hostPort(backend.address, probePort(this.#timing, backend)), this.#credentials, this.#channelOptions);
      return new Promise<Verdict>((resolve, reject) => {
        let connectTimedOut = false;
        const call = client.makeUnaryRequest(
          HEALTH_CHECK_METHOD,
          encodeHealthCheckRequest,
          decodeHealthCheckResponse,
          { service: this.#service },
          (error: (Error & { code?: number; details?: string }) | null, status?: ServingStatus) => {
            if (!error) {
              resolve(status === "SERVING" ? passed(elapsed(started)) : failed("NotServing", elapsed(started), `${this.#service || "server"}: ${status}`));
            } else if (connectTimedOut) {
              reject(new ProbeFailure("Timeout", `no connection within ${connectTimeoutMs} ms`));
            } else {
              reject(grpcError(grpc, error, this.#service));
            }
          },
        );
        const connectTimer = setTimeout(() => {
          if (client.getChannel().getConnectivityState(false) === grpc.connectivityState.READY) return;
          connectTimedOut = true;
          call.cancel();
        }, connectTimeoutMs);
        const onAbort = () => call.cancel();
        signal.addEventListener("abort", onAbort, { once: true });
        call.on("status", () => {
          clearTimeout(connectTimer);
          signal.removeEventListener("abort", onAbort);
        });
      }).finally(() => client.close());
    });
  }
}

function grpcError(grpc: Grpc, error: Error & { code?: number; details?: string }, service: string): ProbeFailure {
  const details = error.details ?? error.message;
  switch (error.code) {
    case grpc.status.NOT_FOUND:
      return new ProbeFailure("NotServing", `${service || "server"}: SERVICE_UNKNOWN`);
    case grpc.status.UNIMPLEMENTED:
      return new ProbeFailure("ProtocolError", "no grpc.health.v1 health service");
    case grpc.status.DEADLINE_EXCEEDED:
      return new ProbeFailure("Timeout", details);
    case grpc.status.UNAVAILABLE: {
      const reason = UNAVAILABLE_REASONS.find(([pattern]) => pattern.test(details))?.[1] ?? "ProtocolError";
      return new ProbeFailure(reason, details);
    }
    default:
      return new ProbeFailure("ProtocolError", `${grpc.status[error.code ?? grpc.status.UNKNOWN]}: ${details}`);
  }
}
