// The values that flow between the pipeline's stages. Everything written to a cluster is
// derived from these, never from an HTTP request.

export type AddressFamily = "IPv4" | "IPv6";

/** One backend as a source found it. */
export interface Backend {
  /** Canonical IP literal. */
  address: string;
  family: AddressFamily;
  /** EndpointSlice `hostname`: a DNS label. */
  hostname?: string;
  nodeName?: string;
  zone?: string;
  /** Names of the sources that found this address. */
  sources: string[];
}

/** A failed source is never an empty list: "could not look" is not "found nothing". */
export type SourceResult =
  | { source: string; status: "ok"; backends: Backend[] }
  | { source: string; status: "failed"; error: string };

export type ReasonCode =
  | "Passed"
  | "NotChecked"
  | "Timeout"
  | "ConnRefused"
  | "ConnReset"
  | "Unreachable"
  | "TLSVerify"
  | "TLSError"
  | "StatusMismatch"
  | "ProtocolError"
  /** The checker itself broke (for example out of sockets): says nothing about the backend. */
  | "CheckerError";

export interface Verdict {
  /** `unknown` when the checker broke: the backend keeps whatever it had. */
  status: "pass" | "fail" | "unknown";
  reason: ReasonCode;
  latencyMs: number;
  detail?: string;
}

/** One endpoint as we want it published. */
export interface DesiredEndpoint {
  address: string;
  family: AddressFamily;
  ready: boolean;
  hostname?: string;
  nodeName?: string;
  zone?: string;
}

/** An address a source returned that the API server would reject. */
export interface RejectedAddress {
  address: string;
  sources: string[];
  reason: string;
}
