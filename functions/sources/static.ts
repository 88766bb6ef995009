import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { StaticEntry } from "../config/schema.ts";
import { errorMessage } from "../errors.ts";
import type { Backend, SourceResult } from "../model.ts";
import { hostnameOf } from "./names.ts";
import type { Source } from "./source.ts";

/**
 * How long a hostname's lookup may take. getaddrinfo cannot be cancelled: past this the source stops waiting
 * for it and fails, while the lookup ends in its own time (resolv.conf's timeout and attempts).
 */
export const LOOKUP_TIMEOUT_MS = 5_000;

/** Addresses listed in the config; hostnames are resolved through the system resolver at every run. */
export class StaticSource implements Source {
  readonly name: string;
  readonly #entries: StaticEntry[];

  constructor(name: string, entries: StaticEntry[]) {
    this.name = name;
    this.#entries = entries;
  }

  async discover(): Promise<SourceResult> {
    try {
      // Listed addresses are taken as they are; only hostnames wait, so 10,000 addresses cost no promise each.
      const found = this.#entries.map((entry) => (entry.address !== undefined ? [this.#listed(entry, entry.address)] : this.#resolve(entry)));
      const resolved = found.some((backends) => !Array.isArray(backends)) ? await Promise.all(found) : (found as Backend[][]);
      return { source: this.name, status: "ok", backends: resolved.flat() };
    } catch (error) {
      // One unresolvable name fails the source: publishing the rest would drop that host's endpoints.
      return { source: this.name, status: "failed", error: errorMessage(error) };
    }
  }

  #listed(entry: StaticEntry, address: string): Backend {
    return { nodeName: entry.nodeName, zone: entry.zone, sources: [this.name], address, family: isIP(address) === 6 ? "IPv6" : "IPv4", hostname: entry.hostname };
  }

  async #resolve(entry: StaticEntry): Promise<Backend[]> {
    const common = { nodeName: entry.nodeName, zone: entry.zone, sources: [this.name] };
    const name = entry.hostname!;
    const addresses = await withinLookupTimeout(lookup(name, { all: true, order: "verbatim" })).catch((error: NodeJS.ErrnoException) => {
      throw new Error(`cannot resolve ${name}: ${error.code ?? error.message}`);
    });
    // The endpoint's hostname must be a DNS label: take the name's first label when it is one.
    const hostname = hostnameOf(name);
    return addresses.map(({ address, family }) => ({ ...common, address, family: family === 6 ? "IPv6" : "IPv4", hostname }));
  }
}

function withinLookupTimeout<T>(lookup: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${LOOKUP_TIMEOUT_MS} ms`)), LOOKUP_TIMEOUT_MS);
  });
  return Promise.race([lookup, late]).finally(() => clearTimeout(timer));
}
