import { errorMessage } from "../errors.ts";
import type { ReasonCode, Verdict } from "../model.ts";

// Errors that say the checker itself is short of something, and nothing about the backend.
const CHECKER_FAULTS = new Set(["EMFILE", "ENFILE", "ENOBUFS", "ENOMEM", "EADDRNOTAVAIL", "EADDRINUSE"]);
const TLS_VERIFY = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);
const NETWORK: Record<string, ReasonCode> = {
  ECONNREFUSED: "ConnRefused",
  ECONNRESET: "ConnReset",
  EPIPE: "ConnReset",
  ETIMEDOUT: "Timeout",
  EHOSTUNREACH: "Unreachable",
  ENETUNREACH: "Unreachable",
  EHOSTDOWN: "Unreachable",
};

/** A probe's own finding about the backend, thrown from deep in a check and turned into its verdict. */
export class ProbeFailure extends Error {
  readonly reason: ReasonCode;
  constructor(reason: ReasonCode, detail: string) {
    super(detail);
    this.name = "ProbeFailure";
    this.reason = reason;
  }
}

export const passed = (latencyMs: number): Verdict => ({ status: "pass", reason: "Passed", latencyMs });

export const failed = (reason: ReasonCode, latencyMs: number, detail?: string): Verdict => ({ status: "fail", reason, latencyMs, detail });

/** Turns a socket, TLS or probe error into a verdict with a reason code. */
export function verdictForError(error: unknown, latencyMs: number): Verdict {
  if (error instanceof ProbeFailure) return failed(error.reason, latencyMs, error.message);
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "";
  const message = errorMessage(error);
  if (CHECKER_FAULTS.has(code)) return { status: "unknown", reason: "CheckerError", latencyMs, detail: message };
  if (TLS_VERIFY.has(code)) return failed("TLSVerify", latencyMs, message);
  if (code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS")) return failed("TLSError", latencyMs, message);
  const reason = NETWORK[code];
  return reason ? failed(reason, latencyMs, code) : failed("ProtocolError", latencyMs, message);
}

/**
 * A probe's timer, whose expiry is heard only after the I/O already waiting has been read: Node runs due timers
 * before it reads sockets, so a process short of CPU (a 128 MB Lambda has a fourteenth of one) would time out
 * backends whose answers came in time and wait unread. Returns its cancel.
 */
export function probeTimer(onExpiry: () => void, ms: number): () => void {
  let immediate: NodeJS.Immediate | undefined;
  const timer = setTimeout(() => (immediate = setImmediate(onExpiry)), ms);
  return () => {
    clearTimeout(timer);
    clearImmediate(immediate);
  };
}

/**
 * Runs one probe attempt under a deadline. `attempt` gets a signal that aborts at the deadline or when the
 * run is cancelled, and settles with a verdict; a deadline that passes first answers Timeout.
 */
export async function withDeadline(timeoutMs: number, runSignal: AbortSignal, attempt: (signal: AbortSignal, started: number) => Promise<Verdict>): Promise<Verdict> {
  const started = performance.now();
  // One controller per attempt, aborted by its own timer or by the run, and let go when it settles: cheaper
  // than AbortSignal.timeout and AbortSignal.any, whose timers and signals outlive 10,000 probes.
  const controller = new AbortController();
  let timedOut = false;
  const cancelTimer = probeTimer(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const cancel = () => controller.abort();
  runSignal.addEventListener("abort", cancel, { once: true });
  try {
    if (runSignal.aborted) cancel();
    return await attempt(controller.signal, started);
  } catch (error) {
    const latencyMs = elapsed(started);
    if (timedOut) return failed("Timeout", latencyMs, `no answer within ${timeoutMs} ms`);
    if (runSignal.aborted) return { status: "unknown", reason: "CheckerError", latencyMs, detail: "run cancelled" };
    return verdictForError(error, latencyMs);
  } finally {
    cancelTimer();
    runSignal.removeEventListener("abort", cancel);
  }
}

export const elapsed = (started: number) => Math.round(performance.now() - started);
