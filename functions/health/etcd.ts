import type { Backend, Verdict } from "../model.ts";
import type { Check } from "./check.ts";
import { openConnection, probePort, type CheckTiming } from "./connect.ts";
import { defaultHost, exchange, type HttpResponse } from "./http-wire.ts";
import { elapsed, failed, passed, withDeadline } from "./probe.ts";
import { tlsConnectionOptions, type TlsMaterial } from "./tls-material.ts";

/** Enough for /readyz's list of checks and /health's JSON. */
const BODY_LIMIT = 4096;
const DETAIL_LIMIT = 300;

/**
 * An etcd member over HTTPS with a client certificate. Asks /readyz (etcd 3.5.11 and later) and, from a
 * member without it (404), /health with its `{"health":"true"}`. A member that says no keeps its own words
 * as the failure's detail: "RAFT NO LEADER", "[-]serializable_read failed: ...".
 */
export class EtcdCheck implements Check {
  readonly kind = "etcd";
  readonly #timing: CheckTiming;
  readonly #tls: TlsMaterial;

  constructor(timing: CheckTiming, tls: TlsMaterial) {
    this.#timing = timing;
    this.#tls = tls;
  }

  probe(backend: Backend, runSignal: AbortSignal): Promise<Verdict> {
    const port = probePort(this.#timing, backend);
    const get = async (path: string, signal: AbortSignal): Promise<HttpResponse> => {
      const tls = tlsConnectionOptions(this.#tls);
      const socket = await openConnection({ host: backend.address, port, connectTimeoutMs: this.#timing.connectTimeoutMs, tls, signal });
      try {
        const host = this.#tls.serverName ?? defaultHost(backend.address, port, true);
        return await exchange(socket, { method: "GET", path, host }, BODY_LIMIT);
      } finally {
        socket.destroy();
      }
    };
    return withDeadline(this.#timing.timeoutMs, runSignal, async (signal, started) => {
      const ready = await get("/readyz?verbose", signal);
      if (ready.status === 200) return passed(elapsed(started));
      if (ready.status !== 404) return failed("EtcdUnhealthy", elapsed(started), readyzReason(ready));
      const health = await get("/health", signal);
      const reason = healthReason(health);
      return reason === undefined ? passed(elapsed(started)) : failed("EtcdUnhealthy", elapsed(started), reason);
    });
  }
}

/** The checks /readyz?verbose marks failed (`[-]name failed: why`), else its status and first words. */
function readyzReason(response: HttpResponse): string {
  const text = response.body.toString("utf8");
  const failedChecks = text.split("\n").filter((line) => line.startsWith("[-]"));
  const reason = failedChecks.length > 0 ? failedChecks.join("; ") : `/readyz status ${response.status}: ${text.trim()}`;
  return reason.slice(0, DETAIL_LIMIT);
}

/** Undefined when /health says healthy; else etcd's reason. */
function healthReason(response: HttpResponse): string | undefined {
  let parsed: { health?: unknown; reason?: unknown };
  try {
    parsed = JSON.parse(response.body.toString("utf8")) as typeof parsed;
  } catch {
    return `/health status ${response.status} without etcd's JSON`;
  }
  if (response.status === 200 && parsed.health === "true") return undefined;
  const reason = typeof parsed.reason === "string" && parsed.reason !== "" ? parsed.reason : `health ${String(parsed.health)}`;
  return reason.slice(0, DETAIL_LIMIT);
}
