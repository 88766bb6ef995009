// Memory ConfigMap content for the memory tests (unit and integration): a large target's memory as runs leave
// it, and a gzip bomb.
import { randomBytes } from "node:crypto";
import { gzipSync } from "node:zlib";
import type { BackendMemory, TargetMemory } from "../../functions/decide/memory.ts";

/** A random interface id in 2001:db8:1:2::/64, as SLAAC hands them out. */
export function randomIpv6(prefix = "2001:db8:1:2"): string {
  const groups = randomBytes(8).toString("hex").match(/.{4}/g)!.map((group) => group.replace(/^0+(?=.)/, ""));
  return `${prefix}:${groups.join(":")}`;
}

const ipv4 = (index: number) => `10.${(index >> 16) & 255}.${(index >> 8) & 255}.${index & 255}`;

/**
 * Each backend last changed at some run (one a minute) of the 30 days before `now`, most records unchanged
 * since, one in 20 failing with a detail: all times apart, the worst spread runs can leave.
 */
export function fleetMemory(count: number, family: "IPv4" | "IPv6", now: number): TargetMemory {
  const backends: Record<string, BackendMemory> = {};
  const run = () => now - Math.floor(Math.random() * 43_200) * 60_000;
  for (let index = 0; index < count; index++) {
    const since = run();
    const times = { since: new Date(since).toISOString(), probedAt: new Date(Math.random() < 0.8 ? since : Math.max(since, run())).toISOString() };
    const failing = Math.random() < 0.05;
    backends[family === "IPv4" ? ipv4(index + 1) : randomIpv6()] = {
      sources: ["static"],
      health: failing
        ? { healthy: false, streak: 0, reason: "Timeout", detail: "http: no answer within 2000 ms", ...times }
        : { healthy: true, streak: 0, reason: "Passed", ...times },
    };
  }
  return { backends };
}

/**
 * About 199 KiB of gzip that inflates to 200 MB of valid format-1 JSON, `{"backends":{},"pad":[0,0,...]}`: parsed,
 * its 100 million numbers need far more than a 128 MB Lambda has.
 */
export function gzipBomb(): Buffer {
  const open = '{"backends":{},"pad":[';
  const close = "0]}";
  const text = Buffer.alloc(200 * 1024 * 1024, "0,");
  text.write(open, 0);
  text.write(close, text.length - close.length);
  return gzipSync(text, { level: 9 });
}
