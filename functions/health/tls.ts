import type { Backend, Verdict } from "../model.ts";
import type { Check } from "./check.ts";
import { openConnection, probePort, type CheckTiming } from "./connect.ts";
import { elapsed, passed, withDeadline } from "./probe.ts";
import { tlsConnectionOptions, type TlsMaterial } from "./tls-material.ts";

/** Passes when a TLS handshake completes, the certificate verified unless told otherwise. */
export class TlsCheck implements Check {
  readonly kind = "tls";
  readonly #timing: CheckTiming;
  readonly #material: TlsMaterial;

  constructor(timing: CheckTiming, material: TlsMaterial) {
    this.#timing = timing;
    this.#material = material;
  }

  probe(backend: Backend, runSignal: AbortSignal): Promise<Verdict> {
    const { timeoutMs, connectTimeoutMs } = this.#timing;
    return withDeadline(timeoutMs, runSignal, async (signal, started) => {
      const tls = tlsConnectionOptions(this.#material);
      const socket = await openConnection({ host: backend.address, port: probePort(this.#timing, backend), connectTimeoutMs, tls, signal });
      socket.destroy();
      return passed(elapsed(started));
    });
  }
}
