import type { SourceConfig } from "../config/schema.ts";
import type { SourceResult } from "../model.ts";
import { StaticSource } from "./static.ts";

/** Finds backends. `discover` never throws: a failure comes back as `status: "failed"`. */
export interface Source {
  readonly name: string;
  discover(signal: AbortSignal): Promise<SourceResult>;
}

export function buildSources(configs: SourceConfig[]): Source[] {
  return configs.map((config, index) => {
    const name = config.name ?? `static[${index}]`;
    return new StaticSource(name, config.static ?? []);
  });
}

/** Runs every source at once; one source's failure is its own result, not the others'. */
export async function discoverAll(sources: Source[], signal: AbortSignal): Promise<SourceResult[]> {
  return Promise.all(
    sources.map((source) =>
      source.discover(signal).catch((error: unknown): SourceResult => ({ source: source.name, status: "failed", error: errorMessage(error) })),
    ),
  );
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
