import type { Backend, Verdict } from "../model.ts";

/**
 * Pure: our probe and a source's own health signal (a Route 53 health check) must both pass for a backend to be
 * ready. A backend its source calls down fails with `SourceUnhealthy`, whatever the probe saw.
 */
export function withSourceHealth(backends: Backend[], verdicts: Map<string, Verdict>): Map<string, Verdict> {
  // Most fleets have no such signal: then the probes' own map, not a copy of 10,000 entries.
  if (backends.every((backend) => backend.unhealthy === undefined)) return verdicts;
  const combined = new Map(verdicts);
  for (const backend of backends) {
    if (backend.unhealthy === undefined) continue;
    const probed = verdicts.get(backend.address);
    combined.set(backend.address, { status: "fail", reason: "SourceUnhealthy", latencyMs: probed?.latencyMs ?? 0, detail: backend.unhealthy });
  }
  return combined;
}
