import type { Backend, DesiredEndpoint, Verdict } from "../model.ts";

export interface DecideInput {
  backends: Backend[];
  verdicts: Map<string, Verdict>;
  /** Names of the sources that failed this run. */
  failedSources: string[];
  /** What is published now. */
  published: DesiredEndpoint[];
  failing: "notReady" | "drop";
}

export interface KeptEndpoint {
  address: string;
  reason: string;
}

export interface Decision {
  endpoints: DesiredEndpoint[];
  /** Published endpoints kept as they were because we could not learn their fate. */
  kept: KeptEndpoint[];
  /** Failing backends left out under `failing: drop`. */
  dropped: string[];
}

/** Pure: turns verdicts into the endpoints to publish, never dropping what a broken source or checker hides. */
export function decideEndpoints(input: DecideInput): Decision {
  const published = new Map(input.published.map((endpoint) => [endpoint.address, endpoint]));
  const endpoints: DesiredEndpoint[] = [];
  const kept: KeptEndpoint[] = [];
  const dropped: string[] = [];

  for (const backend of input.backends) {
    const verdict = input.verdicts.get(backend.address);
    const before = published.get(backend.address);
    const { sources: _sources, ...fields } = backend;
    if (verdict === undefined || verdict.status === "unknown") {
      // The checker broke: what it says is no news about the backend.
      if (before) {
        endpoints.push({ ...fields, ready: before.ready });
        kept.push({ address: backend.address, reason: `checker error: ${verdict?.detail ?? "no verdict"}` });
      } else if (input.failing === "notReady") {
        endpoints.push({ ...fields, ready: false });
      }
      continue;
    }
    if (verdict.status === "pass") endpoints.push({ ...fields, ready: true });
    else if (input.failing === "notReady") endpoints.push({ ...fields, ready: false });
    else dropped.push(backend.address);
  }

  if (input.failedSources.length > 0) {
    // A source that could not look is not a source that found nothing: keep what it may have found before.
    const found = new Set(input.backends.map((backend) => backend.address));
    const reason = `source failed: ${input.failedSources.join(", ")}`;
    for (const endpoint of published.values()) {
      if (found.has(endpoint.address)) continue;
      endpoints.push(endpoint);
      kept.push({ address: endpoint.address, reason });
    }
  }
  return { endpoints, kept, dropped };
}
