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

export const passed = (latencyMs: number): Verdict => ({ status: "pass", reason: "Passed", latencyMs });

export const failed = (reason: ReasonCode, latencyMs: number, detail?: string): Verdict => ({ status: "fail", reason, latencyMs, detail });

/** Turns a socket or TLS error into a verdict with a reason code. */
export function verdictForError(error: unknown, latencyMs: number): Verdict {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? "";
  const message = error instanceof Error ? error.message : String(error);
  if (CHECKER_FAULTS.has(code)) return { status: "unknown", reason: "CheckerError", latencyMs, detail: message };
  if (TLS_VERIFY.has(code)) return failed("TLSVerify", latencyMs, message);
  if (code.startsWith("ERR_SSL") || code.startsWith("ERR_TLS")) return failed("TLSError", latencyMs, message);
  const reason = NETWORK[code];
  return reason ? failed(reason, latencyMs, code) : failed("ProtocolError", latencyMs, message);
}

/**
 * Runs one probe attempt under a deadline. `attempt` gets a signal that aborts at the deadline or when the
 * run is cancelled, and settles with a verdict; a deadline that passes first answers Timeout.
 */
export async function withDeadline(timeoutMs: number, runSignal: AbortSignal, attempt: (signal: AbortSignal, started: number) => Promise<Verdict>): Promise<Verdict> {
  const started = performance.now();
  const deadline = AbortSignal.timeout(timeoutMs);
  const signal = AbortSignal.any([deadline, runSignal]);
  try {
    return await attempt(signal, started);
  } catch (error) {
    const latencyMs = Math.round(performance.now() - started);
    if (deadline.aborted) return failed("Timeout", latencyMs, `no answer within ${timeoutMs} ms`);
    if (runSignal.aborted) return { status: "unknown", reason: "CheckerError", latencyMs, detail: "run cancelled" };
    return verdictForError(error, latencyMs);
  }
}

export const elapsed = (started: number) => Math.round(performance.now() - started);
