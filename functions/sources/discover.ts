import { errorMessage } from "../errors.ts";
import type { SourceResult } from "../model.ts";
import type { Source } from "./source.ts";

/** Runs every source at once; one source's failure is its own result, not the others'. */
export async function discoverAll(sources: Source[], signal: AbortSignal): Promise<SourceResult[]> {
  return Promise.all(
    sources.map((source) =>
      source.discover(signal).catch((error: unknown): SourceResult => ({ source: source.name, status: "failed", error: errorMessage(error) })),
    ),
  );
}
