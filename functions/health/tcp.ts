import type { Backend, Verdict } from "../model.ts";
import type { Check } from "./check.ts";
import { openConnection, probePort, type CheckTiming } from "./connect.ts";
import { elapsed, passed, withDeadline } from "./probe.ts";

/** Passes when a TCP connection is accepted. */
export class TcpCheck implements Check {
  readonly kind = "tcp";
  readonly #timing: CheckTiming;

  constructor(timing: CheckTiming) {
    this.#timing = timing;
  }

  probe(backend: Backend, runSignal: AbortSignal): Promise<Verdict> {
    const { timeoutMs, connectTimeoutMs } = this.#timing;
    return withDeadline(timeoutMs, runSignal, async (signal, started) => {
      const socket = await openConnection({ host: backend.address, port: probePort(this.#timing, backend), connectTimeoutMs, signal });
      socket.destroy();
      return passed(elapsed(started));
    });
  }
}
