import { Resolver } from "node:dns/promises";
import type { DnsSourceConfig } from "../config/schema.ts";
import { errorMessage } from "../errors.ts";
import type { AddressFamily, Backend, SourceResult } from "../model.ts";
import { hostnameOf } from "./names.ts";
import type { Source } from "./source.ts";
import { summarizeSkipped, type Skipped } from "./skipped.ts";

/** Tries per query before it counts as a timeout. */
const TRIES = 2;
/** The answers that say, with authority, that there is nothing: NXDOMAIN and no records of the type. */
const AUTHORITATIVE_EMPTY = new Set(["ENOTFOUND", "ENODATA"]);

interface Found {
  address: string;
  family: AddressFamily;
}

/** A, AAAA or SRV records of one name, asked afresh at every run of the system's servers or a configured one. */
export class DnsSource implements Source {
  readonly name: string;
  readonly #config: DnsSourceConfig;

  constructor(name: string, config: DnsSourceConfig) {
    this.name = name;
    this.#config = config;
  }

  async discover(signal: AbortSignal): Promise<SourceResult> {
    // A new resolver each run: nothing is cached between runs, and the system's servers are read afresh.
    const resolver = new Resolver({ timeout: this.#config.timeoutMs, tries: TRIES });
    if (this.#config.server) resolver.setServers([this.#config.server]);
    const cancel = () => resolver.cancel();
    signal.addEventListener("abort", cancel, { once: true });
    try {
      const backends = this.#config.types.includes("SRV") ? await this.#fromSrv(resolver) : await this.#fromAddresses(resolver);
      return { source: this.name, status: "ok", ...backends };
    } catch (error) {
      return { source: this.name, status: "failed", error: errorMessage(error) };
    } finally {
      signal.removeEventListener("abort", cancel);
    }
  }

  async #fromAddresses(resolver: Resolver): Promise<{ backends: Backend[] }> {
    const name = this.#config.name;
    const found = await addressesOf(resolver, name, this.#config.types.filter((type) => type !== "SRV"));
    return {
      backends: found.map(({ address, family }) => ({
        address,
        family,
        hostname: hostnameOf(name),
        sources: [this.name],
        origins: [`${this.name}: ${family === "IPv4" ? "A" : "AAAA"} ${name}`],
      })),
    };
  }

  async #fromSrv(resolver: Resolver): Promise<{ backends: Backend[]; warnings?: string[] }> {
    const name = this.#config.name;
    const records = await query(() => resolver.resolveSrv(name), "SRV", name);
    const byAddress = new Map<string, Backend>();
    const skipped: Skipped[] = [];
    // A target of "." says the service is not offered at this name (RFC 2782).
    const targets = records.filter((record) => record.name !== "" && record.name !== ".");
    const resolved = await Promise.all(targets.map((record) => addressesOf(resolver, record.name, ["A", "AAAA"])));
    targets.forEach((record, index) => {
      const found = resolved[index]!;
      const where = `${record.name}:${record.port}`;
      if (found.length === 0) skipped.push({ resource: where, reason: "an SRV target without A or AAAA records" });
      for (const { address, family } of found) {
        const earlier = byAddress.get(address);
        if (earlier) {
          // Endpoints are keyed by address: one address can have one port.
          if (earlier.port !== record.port) skipped.push({ resource: where, reason: `address ${address} already comes with port ${earlier.port}` });
          continue;
        }
        byAddress.set(address, {
          address,
          family,
          hostname: hostnameOf(record.name),
          port: record.port,
          sources: [this.name],
          // Kubernetes endpoints have no weights or priorities: they are reported, not published.
          origins: [`${this.name}: SRV ${name} → ${where} priority ${record.priority} weight ${record.weight}`],
        });
      }
    });
    const warnings = summarizeSkipped(skipped);
    return { backends: [...byAddress.values()], ...(warnings.length > 0 && { warnings }) };
  }
}

async function addressesOf(resolver: Resolver, name: string, types: ("A" | "AAAA")[]): Promise<Found[]> {
  const answers = await Promise.all(
    types.map(async (type) => {
      const addresses = await query(() => (type === "A" ? resolver.resolve4(name) : resolver.resolve6(name)), type, name);
      const family: AddressFamily = type === "A" ? "IPv4" : "IPv6";
      return addresses.map((address) => ({ address, family }));
    }),
  );
  return answers.flat();
}

/** An authoritative "nothing" is an empty list; anything else (SERVFAIL, a timeout, a refusal) fails the source. */
async function query<T>(ask: () => Promise<T[]>, type: string, name: string): Promise<T[]> {
  try {
    return await ask();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "";
    if (AUTHORITATIVE_EMPTY.has(code)) return [];
    throw new Error(`dns: ${type} query for ${name} failed: ${code || (error as Error).message}`);
  }
}
