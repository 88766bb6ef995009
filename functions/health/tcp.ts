import { connect } from "node:net";
import type { Backend, Verdict } from "../model.ts";
import type { Check } from "./check.ts";
import { elapsed, passed, withDeadline } from "./probe.ts";

export interface TcpCheckOptions {
  port: number;
  timeoutMs: number;
}

/** Passes when a TCP connection is accepted. */
export class TcpCheck implements Check {
  readonly #options: TcpCheckOptions;

  constructor(options: TcpCheckOptions) {
    this.#options = options;
  }

  probe(backend: Backend, runSignal: AbortSignal): Promise<Verdict> {
    return withDeadline(this.#options.timeoutMs, runSignal, (signal, started) =>
      new Promise<Verdict>((resolve, reject) => {
        const socket = connect({ host: backend.address, port: this.#options.port, signal });
        socket.once("connect", () => {
          socket.destroy();
          resolve(passed(elapsed(started)));
        });
        socket.once("error", reject);
      }),
    );
  }
}
