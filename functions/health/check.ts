import type { Backend, Verdict } from "../model.ts";

/** Probes one backend. `probe` never throws: a broken checker answers `status: "unknown"`. */
export interface Check {
  readonly kind: string;
  probe(backend: Backend, signal: AbortSignal): Promise<Verdict>;
}
