import type { Backend, DesiredEndpoint, Verdict } from "../model.ts";
import type { HysteresisResult } from "./hysteresis.ts";
import type { TargetMemory } from "./memory.ts";

export interface DecideInput {
  backends: Backend[];
  verdicts: Map<string, Verdict>;
  /** Health after rise/fall for each backend with a pass or fail verdict, and the records to store. */
  hysteresis: HysteresisResult;
  /** Names of the sources that failed this run. */
  failedSources: string[];
  /** What is published now. */
  published: DesiredEndpoint[];
  failing: "notReady" | "drop";
  /** What the last run remembered. */
  memory: TargetMemory;
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
  /** What the next run should remember. */
  memory: TargetMemory;
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
    const { sources: _sources, origins: _origins, unhealthy, terminating, ...fields } = backend;
    // A terminating backend (draining) is never ready; whether it still serves is the check's to say.
    const endpoint = (serving: boolean): DesiredEndpoint => (terminating ? { ...fields, ready: false, serving, terminating } : { ...fields, ready: serving });
    if (verdict === undefined || verdict.status === "unknown") {
      // The checker broke: what it says is no news about the backend.
      if (before) {
        endpoints.push(endpoint(before.serving ?? before.ready));
        kept.push({ address: backend.address, reason: `checker error: ${verdict?.detail ?? "no verdict"}` });
      } else if (input.failing === "notReady") {
        endpoints.push(endpoint(false));
      }
      continue;
    }
    // A backend its source calls down (a Route 53 health check) fails at once, whatever our probes' streak says.
    if (input.hysteresis.healthy.get(backend.address) && unhealthy === undefined) endpoints.push(endpoint(true));
    else if (input.failing === "notReady") endpoints.push(endpoint(false));
    else dropped.push(backend.address);
  }

  const memory: TargetMemory = { backends: {} };
  for (const backend of input.backends) {
    const health = input.hysteresis.health.get(backend.address);
    memory.backends[backend.address] = health ? { sources: backend.sources, health } : { sources: backend.sources };
  }

  if (input.failedSources.length > 0) {
    // A source that could not look is not a source that found nothing: keep what it found before. An
    // endpoint whose every source answered without it is gone; one of unknown origin might be the failed one's.
    const found = new Set(input.backends.map((backend) => backend.address));
    for (const endpoint of published.values()) {
      if (found.has(endpoint.address)) continue;
      const origin = input.memory.backends[endpoint.address]?.sources ?? input.failedSources;
      const silenced = origin.filter((source) => input.failedSources.includes(source));
      if (silenced.length === 0) continue;
      endpoints.push(endpoint);
      kept.push({ address: endpoint.address, reason: `source failed: ${silenced.join(", ")}` });
      memory.backends[endpoint.address] = { ...input.memory.backends[endpoint.address], sources: origin };
    }
  }
  return { endpoints, kept, dropped, memory };
}
