import type { Backend, Verdict } from "../model.ts";

/**
 * Pure: our probe and a source's own health signal (a Route 53 health check) must both pass for a backend to be
 * ready. A backend its source calls down fails with `SourceUnhealthy`, whatever the probe saw.
 */
export function withSourceHealth(backends: Backend[], verdicts: Map<string, Verdict>): Map<string, Verdict> {
  const combined = new Map(verdicts);
  for (const backend of backends) {
    if (backend.unhealthy === undefined) continue;
    const probed = verdicts.get(backend.address);
    combined.set(backend.address, { status: "fail", reason: "SourceUnhealthy", latencyMs: probed?.latencyMs ?? 0, detail: backend.unhealthy });
  }
  return combined;
}
