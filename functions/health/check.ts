import pLimit, { type LimitFunction } from "p-limit";
import type { CheckConfig } from "../config/schema.ts";
import type { Backend, Verdict } from "../model.ts";
import { HttpCheck } from "./http.ts";
import { TcpCheck } from "./tcp.ts";

/** Probes one backend. `probe` never throws: a broken checker answers `status: "unknown"`. */
export interface Check {
  probe(backend: Backend, signal: AbortSignal): Promise<Verdict>;
}

const notChecked: Check = { probe: async () => ({ status: "pass", reason: "NotChecked", latencyMs: 0 }) };

/** `defaultPort` is the target's first port, probed unless the check names another. */
export function buildCheck(config: CheckConfig, defaultPort: number): Check {
  if (config.tcp) return new TcpCheck({ ...config.tcp, port: config.tcp.port ?? defaultPort });
  if (config.http) return new HttpCheck({ ...config.http, port: config.http.port ?? defaultPort, tls: undefined });
  if (config.https) {
    const { insecureSkipVerify, serverName, ...http } = config.https;
    return new HttpCheck({ ...http, port: http.port ?? defaultPort, tls: { insecureSkipVerify, serverName } });
  }
  return notChecked;
}

/** One limit for all probes of a run, so many targets together stay within the checker's means. */
export function probeLimiter(concurrency: number): LimitFunction {
  return pLimit(concurrency);
}

export async function probeAll(backends: Backend[], check: Check, limit: LimitFunction, signal: AbortSignal): Promise<Map<string, Verdict>> {
  const verdicts = await Promise.all(
    backends.map((backend) =>
      limit(() => check.probe(backend, signal)).then((verdict): [string, Verdict] => [backend.address, verdict]),
    ),
  );
  return new Map(verdicts);
}
