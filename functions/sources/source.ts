import type { SourceResult } from "../model.ts";

/** Finds backends. `discover` never throws: a failure comes back as `status: "failed"`. */
export interface Source {
  readonly name: string;
  discover(signal: AbortSignal): Promise<SourceResult>;
}
