import type { CheckConfig, TargetConfig } from "../config/schema.ts";
import type { Backend, Verdict } from "../model.ts";
import type { Check } from "./check.ts";
import type { CheckTiming } from "./connect.ts";
import { EtcdCheck } from "./etcd.ts";
import { GrpcCheck } from "./grpc.ts";
import { HttpCheck } from "./http.ts";
import { notChecked } from "./none.ts";
import { passed } from "./probe.ts";
import { TcpCheck } from "./tcp.ts";
import { TlsCheck } from "./tls.ts";
import { loadTlsMaterial } from "./tls-material.ts";

/**
 * The target's check, or all of its checks in order (the first failure is the verdict). Reads the TLS files
 * they name, so a missing CA fails the target here instead of every backend. `defaultPort` is the target's
 * first port, probed unless the check or the backend names another.
 */
export async function buildCheck(config: TargetConfig["check"], defaultPort: number): Promise<Check> {
  if (!Array.isArray(config)) return buildOne(config, defaultPort, "check");
  const checks = await Promise.all(config.map((one, index) => buildOne(one, defaultPort, `check[${index}]`)));
  return checks.length === 1 ? checks[0]! : new EveryCheck(checks);
}

async function buildOne(config: CheckConfig, defaultPort: number, where: string): Promise<Check> {
  const timing = (options: { port?: number; timeoutMs: number; connectTimeoutMs?: number }): CheckTiming => ({
    port: options.port,
    defaultPort,
    timeoutMs: options.timeoutMs,
    // Half the attempt: a black-holed backend frees its slot early, so a bounded pool finishes on time.
    connectTimeoutMs: options.connectTimeoutMs ?? Math.ceil(options.timeoutMs / 2),
  });
  if (config.tcp) return new TcpCheck(timing(config.tcp));
  if (config.tls) return new TlsCheck(timing(config.tls), await loadTlsMaterial(config.tls, `${where}.tls`));
  if (config.http) return new HttpCheck(timing(config.http), config.http, undefined);
  if (config.https) return new HttpCheck(timing(config.https), config.https, await loadTlsMaterial(config.https, `${where}.https`));
  if (config.etcd) return new EtcdCheck(timing(config.etcd), await loadTlsMaterial(config.etcd, `${where}.etcd`));
  if (config.grpc) {
    const tls = config.grpc.tls && (await loadTlsMaterial(config.grpc.tls, `${where}.grpc.tls`));
    return GrpcCheck.create(timing(config.grpc), config.grpc.service, tls);
  }
  return notChecked;
}

/** Several checks of one backend, one after another; it passes only if every one does. */
class EveryCheck implements Check {
  readonly kind: string;
  readonly #checks: Check[];

  constructor(checks: Check[]) {
    this.#checks = checks;
    this.kind = checks.map((check) => check.kind).join("+");
  }

  async probe(backend: Backend, signal: AbortSignal): Promise<Verdict> {
    let latencyMs = 0;
    for (const check of this.#checks) {
      const verdict = await check.probe(backend, signal);
      latencyMs += verdict.latencyMs;
      if (verdict.status !== "pass") return { ...verdict, latencyMs, detail: `${check.kind}: ${verdict.detail ?? verdict.reason}` };
    }
    return passed(latencyMs);
  }
}
