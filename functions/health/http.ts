import { connect as connectTcp, type Socket } from "node:net";
import { connect as connectTls, type ConnectionOptions } from "node:tls";
import type { Backend, Verdict } from "../model.ts";
import { bodyMatcher, type BodyMatcher } from "./body-match.ts";
import type { Check } from "./check.ts";
import { probePort, type CheckTiming } from "./connect.ts";
import { defaultHost, requestWriter, ResponseParser, type HttpResponse } from "./http-wire.ts";
import { elapsed, failed, passed, probeTimer, verdictForError } from "./probe.ts";
import { tlsConnectionOptions, type TlsMaterial } from "./tls-material.ts";

/**
 * Plain HTTP reads into this one buffer (net's `onread`) instead of a fresh 64 KiB one per read: every read is
 * parsed before the next, and the parser copies what it keeps. At 10,000 probes the fresh buffers cost more
 * garbage collection than anything else in a probe.
 */
const READ_BUFFER = Buffer.allocUnsafe(16 * 1024);

export interface HttpCheckOptions {
  method: string;
  path: string;
  headers?: Record<string, string>;
  /** Codes (200) and ranges ("200-399"). */
  expectedStatus: (number | string)[];
  body?: { contains?: string; matches?: string; readLimitBytes: number };
}

/** Passes when the request answers an expected status and, if asked, a body that matches. */
export class HttpCheck implements Check {
  readonly kind: "http" | "https";
  readonly #timing: CheckTiming;
  readonly #options: HttpCheckOptions;
  readonly #tls: TlsMaterial | undefined;
  readonly #expected: (status: number) => boolean;
  readonly #bodyMatches: BodyMatcher | undefined;
  readonly #request: (host: string) => Buffer;
  readonly #tlsOptions: ConnectionOptions | undefined;

  /** `tls` set: https. */
  constructor(timing: CheckTiming, options: HttpCheckOptions, tls: TlsMaterial | undefined) {
    this.kind = tls ? "https" : "http";
    this.#timing = timing;
    this.#options = options;
    this.#tls = tls;
    this.#expected = statusMatcher(options.expectedStatus);
    this.#request = requestWriter({ method: options.method, path: options.path, headers: options.headers });
    this.#tlsOptions = tls && tlsConnectionOptions(tls);
    const { contains, matches } = options.body ?? {};
    if (contains !== undefined) this.#bodyMatches = (body) => body.includes(contains);
    // In linear time, and off the main thread when that time could be long.
    else if (matches !== undefined) this.#bodyMatches = bodyMatcher(matches);
  }

  /**
   * One attempt, as one promise with one timer and no AbortController: connect within `connectTimeoutMs`,
   * answer within `timeoutMs`. A black-holed backend gives its slot back at the connect timeout.
   */
  probe(backend: Backend, runSignal: AbortSignal): Promise<Verdict> {
    const { timeoutMs, connectTimeoutMs } = this.#timing;
    const port = probePort(this.#timing, backend);
    const tls = this.#tlsOptions;
    const bodyLimit = this.#bodyMatches ? this.#options.body!.readLimitBytes : 0;
    const parser = new ResponseParser(this.#options.method, bodyLimit);
    const started = performance.now();
    return new Promise<Verdict>((resolve) => {
      if (runSignal.aborted) return resolve({ status: "unknown", reason: "CheckerError", latencyMs: 0, detail: "run cancelled" });
      let socket: Socket;
      let connected = false;
      let done = false;
      const finish = (verdict: Verdict | Promise<Verdict>) => {
        if (done) return;
        done = true;
        cancelTimer();
        runSignal.removeEventListener("abort", onAbort);
        // Answered: reset rather than close, as HAProxy's checks do, so neither side keeps a TIME_WAIT.
        if (connected && !tls && !socket.destroyed) socket.resetAndDestroy();
        else socket.destroy();
        resolve(verdict);
      };
      const answered = (response: HttpResponse) => finish(this.#verdict(response, elapsed(started), started + timeoutMs));
      const onRead = (chunk: Buffer) => {
        try {
          const response = parser.push(chunk);
          if (response) answered(response);
        } catch (error) {
          finish(verdictForError(error, elapsed(started)));
        }
      };
      const onTimer = () => {
        if (!connected) return finish(failed("Timeout", elapsed(started), `no connection within ${connectTimeoutMs} ms`));
        const left = timeoutMs - (performance.now() - started);
        if (left > 1) cancelTimer = probeTimer(onTimer, left);
        else finish(failed("Timeout", elapsed(started), `no answer within ${timeoutMs} ms`));
      };
      const onAbort = () => finish({ status: "unknown", reason: "CheckerError", latencyMs: elapsed(started), detail: "run cancelled" });
      let cancelTimer = probeTimer(onTimer, Math.min(connectTimeoutMs, timeoutMs));
      runSignal.addEventListener("abort", onAbort);
      const host = backend.address;
      if (tls) {
        socket = connectTls({ ...tls, host, port });
        socket.on("data", onRead);
      } else {
        socket = connectTcp({ host, port, onread: { buffer: READ_BUFFER, callback: (size: number, buffer: Uint8Array) => (onRead((buffer as Buffer).subarray(0, size)), !done) } });
      }
      // The TCP connection, as before: a TLS handshake counts against the whole attempt.
      socket.once("connect", () => (connected = true));
      socket.once("end", () => {
        try {
          answered(parser.end());
        } catch (error) {
          finish(verdictForError(error, elapsed(started)));
        }
      });
      socket.on("error", (error) => finish(verdictForError(error, elapsed(started))));
      socket.write(this.#request(this.#tlsServerName ?? defaultHost(host, port, tls !== undefined)));
    });
  }

  get #tlsServerName(): string | undefined {
    return this.#tls?.serverName;
  }

  /** The connection is closed by then: a pattern's match runs after it, until `deadline` at the latest. */
  #verdict(response: HttpResponse, latencyMs: number, deadline: number): Verdict | Promise<Verdict> {
    if (!this.#expected(response.status)) return failed("StatusMismatch", latencyMs, `status ${response.status}`);
    if (!this.#bodyMatches) return passed(latencyMs);
    const matched = this.#bodyMatches(response.body.toString("utf8"), deadline);
    return matched instanceof Promise ? matched.then((result) => this.#bodyVerdict(result, latencyMs)) : this.#bodyVerdict(matched, latencyMs);
  }

  #bodyVerdict(matched: boolean | undefined, latencyMs: number): Verdict {
    const body = this.#options.body!;
    if (matched === undefined) {
      // The checker ran out of time, not the backend: a slow match says nothing about it.
      return { status: "unknown", reason: "CheckerError", latencyMs, detail: `matching /${body.matches}/ did not finish within ${this.#timing.timeoutMs} ms` };
    }
    if (matched) return passed(latencyMs);
    const wanted = body.contains !== undefined ? `no ${JSON.stringify(body.contains)}` : `no match for /${body.matches}/`;
    return failed("BodyMismatch", latencyMs, `${wanted} in the first ${body.readLimitBytes} bytes`);
  }
}

function statusMatcher(expected: (number | string)[]): (status: number) => boolean {
  const ranges = expected.map((item) => {
    if (typeof item === "number") return [item, item] as const;
    const [low, high] = item.split("-").map(Number);
    return [low!, high!] as const;
  });
  return (status) => ranges.some(([low, high]) => status >= low && status <= high);
}
