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
  /** The backend's own port (an SRV record, an EC2 port tag), in place of the target's single port. */
  port?: number;
  /** Going away (an EC2 instance stopping or shutting down): published `terminating`, never ready. */
  terminating?: boolean;
  /** A source's own health signal says the backend is down (a Route 53 health check): never published ready. */
  unhealthy?: string;
  /** Where exactly each source found it, for the report: `db-records: A set "blue" (weight 10)`. */
  origins?: string[];
}

/** A failed source is never an empty list: "could not look" is not "found nothing". */
export type SourceResult =
  /** `warnings`: what the source found but could not use, such as an instance without the chosen address. */
  | { source: string; status: "ok"; backends: Backend[]; warnings?: string[] }
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
  /** The body did not hold the text, or match the pattern, that the check expects. */
  | "BodyMismatch"
  /** A gRPC health service answered NOT_SERVING (or does not know the service). */
  | "NotServing"
  /** An etcd member says it is not ready; `detail` carries etcd's own reason. */
  | "EtcdUnhealthy"
  | "ProtocolError"
  /** A source's own health signal (a Route 53 health check) says the backend is down, whatever our probe saw. */
  | "SourceUnhealthy"
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
  /** EndpointSlice `serving`; when unset, the same as `ready`. Differs only for a terminating endpoint. */
  serving?: boolean;
  terminating?: boolean;
  /** Published with this port instead of the target's single port. */
  port?: number;
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
