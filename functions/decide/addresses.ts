import { BlockList, isIPv4, isIPv6 } from "node:net";
import type { AddressFamily, Backend, RejectedAddress } from "../model.ts";

// Ranges the API server refuses in Endpoints and EndpointSlices (422): sending them would fail the whole write.
const REFUSED: [string, [string, number, "ipv4" | "ipv6"][]][] = [
  ["loopback", [["127.0.0.0", 8, "ipv4"], ["::1", 128, "ipv6"]]],
  ["link-local", [["169.254.0.0", 16, "ipv4"], ["fe80::", 10, "ipv6"]]],
  ["unspecified", [["0.0.0.0", 32, "ipv4"], ["::", 128, "ipv6"]]],
  ["multicast", [["224.0.0.0", 4, "ipv4"], ["ff00::", 8, "ipv6"]]],
];
// IPv6 through node:net's BlockList; IPv4, which nearly every fleet is, by arithmetic: BlockList makes a
// SocketAddress for every lookup, which at 10,000 backends (looked up twice a run) costs more than the rest.
const refusedIPv6 = REFUSED.map(([name, ranges]) => [blockList(ranges.filter(([, , type]) => type === "ipv6")), name] as const);
// One lookup answers for almost every address; the named lists only say why one was refused.
const anyRefusedIPv6 = blockList(REFUSED.flatMap(([, ranges]) => ranges.filter(([, , type]) => type === "ipv6")));
const refusedIPv4 = REFUSED.flatMap(([name, ranges]) =>
  ranges.filter(([, , type]) => type === "ipv4").map(([network, prefix]) => ({ name, network: ipv4Number(network), mask: prefix === 0 ? 0 : (~0 << (32 - prefix)) >>> 0 })),
);

function blockList(ranges: [string, number, "ipv4" | "ipv6"][]): BlockList {
  const list = new BlockList();
  for (const [network, prefix, type] of ranges) list.addSubnet(network, prefix, type);
  return list;
}

/** A dotted IPv4 address (isIPv4 passed it) as an unsigned 32-bit number. */
function ipv4Number(address: string): number {
  let number = 0;
  let octet = 0;
  for (let index = 0; index < address.length; index++) {
    const code = address.charCodeAt(index);
    if (code === 46) {
      number = number * 256 + octet;
      octet = 0;
    } else {
      octet = octet * 10 + code - 48;
    }
  }
  return number * 256 + octet;
}

/** Why the API server would refuse the (canonical) address, if it would. */
function refusedRange(address: string, family: AddressFamily): string | undefined {
  if (family === "IPv4") {
    const number = ipv4Number(address);
    return refusedIPv4.find(({ network, mask }) => ((number & mask) >>> 0) === network)?.name;
  }
  if (!anyRefusedIPv6.check(address, "ipv6")) return undefined;
  return refusedIPv6.find(([list]) => list.check(address, "ipv6"))![1];
}

export type AddressCheck = { ok: true; address: string; family: AddressFamily } | { ok: false; reason: string };

/** The canonical form of a publishable address (the API server wants `2001:db8::1`, not `2001:0db8:0::1`), or why it is refused. */
export function checkAddress(raw: string): AddressCheck {
  let address: string;
  let family: AddressFamily;
  // node:net refuses IPv4 with leading zeros, as the API server does.
  if (isIPv4(raw)) {
    [address, family] = [raw, "IPv4"];
  } else if (isIPv6(raw)) {
    // node:net takes a zone index (`fe80::1%eth0`); the URL parser below throws on it, and the API server refuses it.
    if (raw.includes("%")) return { ok: false, reason: "IPv6 address with a zone index, refused by the API server" };
    [address, family] = [new URL(`http://[${raw}]/`).hostname.slice(1, -1), "IPv6"];
    if (address.startsWith("::ffff:")) return { ok: false, reason: "IPv4-mapped IPv6 address: list the IPv4 address instead" };
  } else {
    return { ok: false, reason: "not an IP address" };
  }
  const name = refusedRange(address, family);
  return name === undefined ? { ok: true, address, family } : { ok: false, reason: `${name} address, refused by the API server` };
}

/** Merges what all sources found into one backend per address, and sets aside what cannot be published. */
export function mergeBackends(found: Backend[]): { backends: Backend[]; rejected: RejectedAddress[] } {
  const byAddress = new Map<string, Backend>();
  const rejected = new Map<string, RejectedAddress>();
  for (const backend of found) {
    const canonical = checkAddress(backend.address);
    if (!canonical.ok) {
      const earlier = rejected.get(backend.address);
      rejected.set(backend.address, { address: backend.address, sources: union(earlier?.sources, backend.sources), reason: canonical.reason });
      continue;
    }
    const earlier = byAddress.get(canonical.address);
    // Sources leave fields they do not know undefined (a static entry without a zone); those do not count as named.
    const named = earlier && Object.fromEntries(Object.entries(earlier).filter(([, value]) => value !== undefined));
    byAddress.set(canonical.address, {
      // The first source to name a field wins; sources are listed in config order.
      ...backend,
      ...named,
      address: canonical.address,
      family: canonical.family,
      sources: union(earlier?.sources, backend.sources),
      // Whoever knows a backend is going away or down is heeded, whichever source it is.
      ...((earlier?.terminating || backend.terminating) && { terminating: true }),
      ...((earlier?.unhealthy ?? backend.unhealthy) !== undefined && { unhealthy: earlier?.unhealthy ?? backend.unhealthy }),
      ...((earlier?.origins || backend.origins) && { origins: union(earlier?.origins, backend.origins ?? []) }),
    });
  }
  return { backends: [...byAddress.values()], rejected: [...rejected.values()] };
}

function union(first: string[] | undefined, second: string[]): string[] {
  // A backend seen first, with one source, as nearly all are: a copy, without a Set for it.
  if (first === undefined && second.length < 2) return [...second];
  return [...new Set([...(first ?? []), ...second])];
}

/** Orders addresses (and other keys) by their text, the same on every run: plans and reports stay stable. */
export const compareAddresses = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
