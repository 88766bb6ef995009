import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Backend, Verdict } from "../model.ts";
import type { Check } from "./check.ts";
import { elapsed, failed, passed, withDeadline } from "./probe.ts";

export interface HttpCheckOptions {
  port: number;
  timeoutMs: number;
  path: string;
  /** Codes (200) and ranges ("200-399"). */
  expectedStatus: (number | string)[];
  /** Set for https. */
  tls: { insecureSkipVerify: boolean; serverName?: string } | undefined;
}

/** Passes when a GET answers with an expected status. The body is not read. */
export class HttpCheck implements Check {
  readonly #options: HttpCheckOptions;
  readonly #expected: (status: number) => boolean;

  constructor(options: HttpCheckOptions) {
    this.#options = options;
    this.#expected = statusMatcher(options.expectedStatus);
  }

  probe(backend: Backend, runSignal: AbortSignal): Promise<Verdict> {
    const { port, path, tls, timeoutMs } = this.#options;
    return withDeadline(timeoutMs, runSignal, (signal, started) =>
      new Promise<Verdict>((resolve, reject) => {
        const common = { host: backend.address, port, path, method: "GET", signal, agent: false as const, headers: { "user-agent": "external-endpoint-syncer" } };
        const request = tls
          ? httpsRequest({ ...common, rejectUnauthorized: !tls.insecureSkipVerify, servername: tls.serverName })
          : httpRequest(common);
        request.once("response", (response) => {
          const status = response.statusCode ?? 0;
          response.destroy();
          resolve(this.#expected(status) ? passed(elapsed(started)) : failed("StatusMismatch", elapsed(started), `status ${status}`));
        });
        request.once("error", reject);
        request.end();
      }),
    );
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
