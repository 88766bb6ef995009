// A real DNS server on loopback (UDP, messages encoded by dns-packet) serving a zone the test sets: A, AAAA and
// SRV records; NXDOMAIN for unknown names, NOERROR with no answer for a known name without the type asked;
// SERVFAIL for names told to fail; silence (so the client times out) for names told to hang.
import { createSocket } from "node:dgram";
import dnsPacket from "dns-packet";

export interface SrvTarget {
  priority: number;
  weight: number;
  port: number;
  target: string;
}

export interface DnsRecords {
  A?: string[];
  AAAA?: string[];
  SRV?: SrvTarget[];
}

export interface TestDnsServer {
  /** For a source's `server`: `127.0.0.1:PORT`. */
  server: string;
  set(name: string, records: DnsRecords): void;
  /** The name no longer exists: NXDOMAIN. */
  remove(name: string): void;
  /** Answer this name with SERVFAIL, or not at all (`hang`), until set or removed again. */
  misbehave(name: string, how: "servfail" | "hang"): void;
  /** Queries seen for `name` of `type`. */
  queries(name: string, type: string): number;
  stop(): Promise<void>;
}

const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 };
const TTL = 5;

/**
 * On a free loopback port by default. `listen`: an address and port of the test's own, for a resolver that takes
 * no port (resolv.conf's nameserver: port 53), such as a test network's host address.
 */
export async function startDnsServer(listen: { address: string; port: number } = { address: "127.0.0.1", port: 0 }): Promise<TestDnsServer> {
  const zone = new Map<string, DnsRecords | "servfail" | "hang">();
  const seen = new Map<string, number>();
  const key = (name: string) => name.toLowerCase().replace(/\.$/, "");
  const socket = createSocket("udp4");

  socket.on("message", (message, from) => {
    let query: dnsPacket.DecodedPacket;
    try {
      query = dnsPacket.decode(message);
    } catch {
      return;
    }
    const question = query.questions?.[0];
    if (!question) return;
    const name = key(question.name);
    seen.set(`${name} ${question.type}`, (seen.get(`${name} ${question.type}`) ?? 0) + 1);
    const entry = zone.get(name);
    if (entry === "hang") return;
    const reply = (rcode: number, answers: dnsPacket.Answer[] = []) =>
      socket.send(
        dnsPacket.encode({
          type: "response",
          id: query.id,
          flags: dnsPacket.AUTHORITATIVE_ANSWER | ((query.flags ?? 0) & dnsPacket.RECURSION_DESIRED) | rcode,
          questions: [question],
          answers,
        }),
        from.port,
        from.address,
      );
    if (entry === undefined) return reply(RCODE.NXDOMAIN);
    if (entry === "servfail") return reply(RCODE.SERVFAIL);
    const answers: dnsPacket.Answer[] =
      question.type === "A"
        ? (entry.A ?? []).map((data) => ({ type: "A", name: question.name, ttl: TTL, data }))
        : question.type === "AAAA"
          ? (entry.AAAA ?? []).map((data) => ({ type: "AAAA", name: question.name, ttl: TTL, data }))
          : question.type === "SRV"
            ? (entry.SRV ?? []).map((data) => ({ type: "SRV", name: question.name, ttl: TTL, data }))
            : [];
    reply(RCODE.NOERROR, answers);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(listen.port, listen.address, resolve);
  });
  const { port } = socket.address();

  return {
    server: `${listen.address}:${port}`,
    set: (name, records) => zone.set(key(name), records),
    remove: (name) => zone.delete(key(name)),
    misbehave: (name, how) => zone.set(key(name), how),
    queries: (name, type) => seen.get(`${key(name)} ${type}`) ?? 0,
    stop: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
