import { connect } from "node:net";
import type { Backend, Verdict } from "../model.ts";
import type { Check } from "./check.ts";
import { probePort, type CheckTiming } from "./connect.ts";
import { elapsed, failed, passed, probeTimer, verdictForError } from "./probe.ts";

/**
 * Passes when a TCP connection is accepted. The connection is the whole attempt, so one timer serves as both
 * its connect timeout and its deadline, and the run's signal is heard directly: the default check, probing
 * 10,000 backends, costs little more than connecting (withDeadline and openConnection, which the checks that
 * talk after connecting need, would double its CPU).
 */
export class TcpCheck implements Check {
  readonly kind = "tcp";
  readonly #timing: CheckTiming;

  constructor(timing: CheckTiming) {
    this.#timing = timing;
  }

  probe(backend: Backend, runSignal: AbortSignal): Promise<Verdict> {
    const { timeoutMs, connectTimeoutMs } = this.#timing;
    const started = performance.now();
    // As withDeadline and openConnection tell them apart; at a tie the deadline's timer, set first, fired first.
    const limitMs = Math.min(timeoutMs, connectTimeoutMs);
    const timeout = timeoutMs <= connectTimeoutMs ? `no answer within ${timeoutMs} ms` : `no connection within ${connectTimeoutMs} ms`;
    if (runSignal.aborted) return Promise.resolve(cancelled(started));
    return new Promise((resolve) => {
      let settled = false;
      const settle = (verdict: Verdict) => {
        if (settled) return;
        settled = true;
        cancelTimer();
        runSignal.removeEventListener("abort", onAbort);
        socket.destroy();
        resolve(verdict);
      };
      const onAbort = () => settle(cancelled(started));
      const cancelTimer = probeTimer(() => settle(failed("Timeout", elapsed(started), timeout)), limitMs);
      runSignal.addEventListener("abort", onAbort, { once: true });
      const socket = connect({ host: backend.address, port: probePort(this.#timing, backend) });
      socket.once("connect", () => settle(passed(elapsed(started))));
      socket.on("error", (error) => settle(verdictForError(error, elapsed(started))));
    });
  }
}

const cancelled = (started: number): Verdict => ({ status: "unknown", reason: "CheckerError", latencyMs: elapsed(started), detail: "run cancelled" });
