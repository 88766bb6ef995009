// Every AWS client's requests have a deadline (the SDK's default HTTP handler waits for ever on a server that
// accepts the connection and never answers) and name the release in their User-Agent, for CloudTrail.
import { USER_AGENT } from "../version.ts";

/** One request's limit for the calls whose config sets none: stored configs and kubeconfigs, EKS, and their STS. */
export const AWS_REQUEST_TIMEOUT_MS = 5_000;

/**
 * The SDK client options every client, STS clients included, gets: a request limit and our User-Agent. A
 * request past the limit is a timeout, which the SDK retries like throttling and 5xx (3 attempts in all,
 * AWS_MAX_ATTEMPTS), so a call gives up after about 3 × `timeoutMs`.
 */
export function clientOptionsWithin(timeoutMs: number) {
  return {
    requestHandler: { connectionTimeout: timeoutMs, requestTimeout: timeoutMs, throwOnRequestTimeout: true },
    customUserAgent: USER_AGENT,
  };
}
