// The memory ConfigMap as untrusted input (registry/remembered.ts, registry/memory-codec.ts, plan/memory-configmap.ts): what the syncer writes reads
// back the same; a bad record is forgotten alone, a bad whole entirely, with a warning and never a throw; a
// gzip bomb stops at the decompression cap; one not ours is not read; 50,000 IPv6 backends fit under the size
// bound, and past it the memory is trimmed by the documented rule. Pure: no cluster.
//
// Cases: round trip; idempotency; format 1 read (upgrade); bad records (table); bad wholes (table); gzip bomb;
// a ConfigMap not ours; a hostile record against rise/fall; sizes for 1k/10k/50k IPv4 and IPv6; trimming.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import type { V1ConfigMap } from "@kubernetes/client-node";
import { applyHysteresis } from "../../functions/decide/hysteresis.ts";
import type { BackendMemory, TargetMemory } from "../../functions/decide/memory.ts";
import { MANAGED_BY, writerLabels } from "../../functions/registry/labels.ts";
import { decodeMemory, encodeMemory, MAX_BAD_RECORDS, MAX_RECORDS, MAX_STORED_BYTES, MAX_TEXT_BYTES } from "../../functions/registry/memory-codec.ts";
import { planMemory } from "../../functions/plan/memory-configmap.ts";
import { readMemory } from "../../functions/registry/remembered.ts";
import type { Verdict } from "../../functions/model.ts";
import { fleetMemory, gzipBomb, randomIpv6 } from "../harness/memory-samples.ts";

const WRITER = { ownerId: "default", installation: "default", cluster: "test" };
const SERVICE = { namespace: "ns", name: "svc", uid: "uid-1", writer: WRITER, ports: [{ port: 80, protocol: "TCP" as const }] };
const NOW = Date.parse("2026-11-30T12:00:00Z");
const iso = (ms: number) => new Date(ms).toISOString();

const configMap = (base64: string, labels: Record<string, string> = writerLabels(WRITER)): V1ConfigMap => ({
  metadata: { name: "svc-ees-memory", namespace: "ns", labels },
  binaryData: { "memory.json.gz": base64 },
});
const gz = (text: string) => gzipSync(text).toString("base64");
/** A memory as the format before version 2 stored it: one JSON document. */
const formatOne = (backends: Record<string, unknown>, extra: Record<string, unknown> = {}) => gz(JSON.stringify({ backends, ...extra }));
/** Format 2 by hand: a header line, then one line per record. */
const formatTwo = (rows: unknown[], header: Record<string, unknown> = { v: 2, sourceSets: [["static"]] }) =>
  gz(`${JSON.stringify(header)}\n${rows.map((row) => `${typeof row === "string" ? row : JSON.stringify(row)}\n`).join("")}`);
const b64 = (...bytes: number[]) => Buffer.from(bytes).toString("base64");
const SECONDS = Math.floor(NOW / 1000);

const healthy = (at: number, extra: Partial<BackendMemory["health"] & object> = {}): BackendMemory => ({
  sources: ["static"],
  health: { healthy: true, streak: 0, reason: "Passed", since: iso(at), probedAt: iso(at), ...extra },
});

describe("memory: what it writes reads back", () => {
  const memory: TargetMemory = {
    backends: {
      "10.0.0.1": { sources: ["dns", "static"], health: { healthy: false, streak: 1, reason: "ConnRefused", detail: "http: ECONNREFUSED", since: iso(NOW - 60_000), probedAt: iso(NOW) } },
      "2001:db8::7": healthy(NOW - 3_600_000),
      "10.0.0.2": { sources: ["static"] },
    },
    trippedGuards: ["minHealthy"],
    syncFailed: "create EndpointSlice shop/db-ipv4-0: HTTP 500",
  };

  it("every field", () => {
    const [change] = planMemory(SERVICE, { next: memory, existing: undefined, stored: { backends: {} } });
    const read = readMemory(change!.object as V1ConfigMap, WRITER);
    assert.equal(read.problem, undefined);
    assert.deepEqual(read.memory, memory);
  });

  it("times are kept to the second", () => {
    const precise = { backends: { "10.0.0.1": healthy(NOW + 678) } };
    const read = readMemory(configMap(encodeMemory(precise).base64), WRITER);
    assert.deepEqual(read.memory, { backends: { "10.0.0.1": healthy(NOW) } });
  });

  it("a second plan over what it read writes nothing", () => {
    const [change] = planMemory(SERVICE, { next: memory, existing: undefined, stored: { backends: {} } });
    const existing = change!.object as V1ConfigMap;
    const stored = readMemory(existing, WRITER).memory;
    assert.deepEqual(planMemory(SERVICE, { next: stored, existing, stored }), []);
  });

  it("reads the format before version 2, so an upgrade keeps its streaks", () => {
    const read = readMemory(configMap(formatOne(memory.backends, { trippedGuards: ["minHealthy"] })), WRITER);
    assert.equal(read.problem, undefined);
    const { syncFailed: _newer, ...formatOneHeld } = memory;
    assert.deepEqual(read.memory, formatOneHeld);
  });
});

describe("memory: a bad record is forgotten alone", () => {
  const health = { healthy: true, streak: 0, reason: "Passed", since: iso(NOW), probedAt: iso(NOW) };
  // Each bad record sits beside a good one for 10.0.0.1, which must survive it.
  const one = (address: string, record: unknown) => formatOne({ "10.0.0.1": { sources: ["static"] }, [address]: record });
  const two = (row: unknown) => formatTwo([[b64(10, 0, 0, 1), 0], row]);
  const cases: [string, string][] = [
    ["format 1: healthy 'yes', streak 'abc'", one("10.0.0.9", { sources: ["static"], health: { ...health, healthy: "yes", streak: "abc" } })],
    ["format 1: sources 'x'", one("10.0.0.9", { sources: "x" })],
    ["format 1: a date that is not one", one("10.0.0.9", { sources: ["static"], health: { ...health, since: "yesterday" } })],
    ["format 1: not an address", one("not-an-ip", { sources: ["static"] })],
    ["format 1: a loopback address", one("127.0.0.1", { sources: ["static"] })],
    ["format 2: streak past 10", two([b64(10, 0, 0, 9), 0, 1, 11, "Passed", SECONDS, 0])],
    ["format 2: negative streak", two([b64(10, 0, 0, 9), 0, 1, -1, "Passed", SECONDS, 0])],
    ["format 2: an unknown reason", two([b64(10, 0, 0, 9), 0, 1, 0, "Fine", SECONDS, 0])],
    ["format 2: healthy 2", two([b64(10, 0, 0, 9), 0, 2, 0, "Passed", SECONDS, 0])],
    ["format 2: a source set that is not there", two([b64(10, 0, 0, 9), 7])],
    ["format 2: a date past year 9999", two([b64(10, 0, 0, 9), 0, 1, 0, "Passed", 253_402_300_800, 0])],
    ["format 2: 5 address bytes", two([b64(10, 0, 0, 9, 1), 0])],
    ["format 2: an address that is not base64", two(["10.0.0.9", 0])],
    ["format 2: a multicast address", two([b64(224, 0, 0, 9), 0])],
    ["format 2: a line that is not JSON", two("[garbage")],
    ["format 2: a line too long to parse", two(JSON.stringify([b64(10, 0, 0, 9), 0, 1, 0, "Passed", SECONDS, 0, "x".repeat(9000)]))],
    ["format 2: an object for a row", two({ healthy: "yes", streak: "abc" })],
  ];
  for (const [name, data] of cases) {
    it(name, () => {
      const read = readMemory(configMap(data), WRITER);
      assert.deepEqual(read.memory.backends, { "10.0.0.1": { sources: ["static"] } });
      assert.match(read.problem ?? "", /^memory ConfigMap ns\/svc-ees-memory: 1 unreadable record\(s\) \(the first: .{1,80}\) forgotten: those backends start afresh$/);
    });
  }

  it("good records beside bad ones are kept, and the warning stays short", () => {
    const rows: unknown[] = [[b64(10, 0, 0, 1), 0, 1, 0, "Passed", SECONDS, 0]];
    for (let index = 0; index < MAX_BAD_RECORDS - 1; index++) rows.push([b64(10, 1, index >> 8, index & 255), 0, "yes", "abc", "Passed", SECONDS, 0]);
    rows.push([b64(10, 0, 0, 1), 0]);
    const read = readMemory(configMap(formatTwo(rows)), WRITER);
    assert.deepEqual(Object.keys(read.memory.backends), ["10.0.0.1"]);
    assert.equal(read.memory.backends["10.0.0.1"]!.health?.healthy, true, "the first record of an address counts; a second is dropped");
    assert.match(read.problem!, new RegExp(`${MAX_BAD_RECORDS} unreadable record\\(s\\) \\(the first: "10\\.1\\.0\\.0"\\)`));
    assert.ok(read.problem!.length < 300);
  });

  it("a dead backend whose record says healthy 'yes', streak 'abc' turns not ready within fall runs", () => {
    // Before: the record was trusted, streak became "abc1", and the backend stayed published ready for ever.
    let memory = readMemory(
      configMap(formatOne({ "10.0.0.9": { sources: ["static"], health: { healthy: "yes", streak: "abc", reason: "Passed", since: iso(NOW), probedAt: iso(NOW) } } })),
      WRITER,
    ).memory;
    const fail: Verdict = { status: "fail", reason: "ConnRefused", latencyMs: 1 };
    const verdicts = new Map([["10.0.0.9", fail]]);
    const readiness: boolean[] = [];
    for (let run = 0; run < 2; run++) {
      const result = applyHysteresis({
        backends: [{ address: "10.0.0.9", family: "IPv4", sources: ["static"] }],
        verdicts,
        memory,
        rise: 2,
        fall: 2,
        now: new Date(NOW + run * 60_000),
        staleAfterMs: 180_000,
      });
      readiness.push(result.healthy.get("10.0.0.9")!);
      memory = { backends: { "10.0.0.9": { sources: ["static"], health: result.health.get("10.0.0.9")! } } };
    }
    // Forgotten, it takes its first verdict: not ready from the first failing run.
    assert.deepEqual(readiness, [false, false]);
  });
});

describe("memory: a bad whole starts afresh", () => {
  const cases: [string, string, RegExp][] = [
    ["not base64 of gzip", "bm90IGd6aXA=", /not gzip/],
    ["gzip of something not JSON", gz("{{{{"), /neither format 1 nor 2/],
    ["a JSON array", gz("[1,2,3]"), /neither format 1 nor 2/],
    ["backends not an object", gz(JSON.stringify({ backends: "x" })), /neither format 1 nor 2/],
    ["trippedGuards not guards", formatOne({}, { trippedGuards: ["everything"] }), /neither format 1 nor 2/],
    ["a header of an unknown version", formatTwo([], { v: 3, sourceSets: [] }), /not format 2/],
    ["sources 'x' in the header", formatTwo([], { v: 2, sourceSets: "x" }), /not format 2/],
    ["more base64 than the size bound allows", "A".repeat(Math.ceil(MAX_STORED_BYTES / 3) * 4 + 4), /over the 786432-byte bound/],
    ["more records than MAX_RECORDS", formatTwo(Array.from({ length: MAX_RECORDS + 1 }, () => [b64(10, 0, 0, 1), 0])), /100001 records, over 100000/],
    ["more bad records than MAX_BAD_RECORDS", formatTwo(Array.from({ length: MAX_BAD_RECORDS + 1 }, () => "")), /over 1000 unreadable records/],
    ["a format 1 document past 1 MiB", formatOne({ "10.0.0.1": { sources: ["static"], pad: "x".repeat(1024 * 1024) } }), /format 1 over/],
  ];
  for (const [name, data, message] of cases) {
    it(name, () => {
      const read = readMemory(configMap(data), WRITER);
      assert.deepEqual(read.memory, { backends: {} });
      assert.match(read.problem ?? "", /^memory ConfigMap ns\/svc-ees-memory unreadable \(.*\): starting afresh$/);
      assert.match(read.problem!, message);
    });
  }

  it("a 199 KiB gzip bomb stops at the decompression cap", () => {
    // JSON.parse of what it inflates to once ran a 128 MB Lambda out of memory.
    const bomb = gzipBomb();
    assert.ok(bomb.length < 200 * 1024, `${bomb.length} bytes`);
    const before = process.memoryUsage().rss;
    const read = readMemory(configMap(bomb.toString("base64")), WRITER);
    assert.match(read.problem ?? "", new RegExp(`unreadable \\(over ${MAX_TEXT_BYTES} bytes uncompressed\\): starting afresh`));
    assert.ok(process.memoryUsage().rss - before < 64 * 1024 * 1024, "decompression stopped at the cap");
  });
});

describe("memory: a ConfigMap by our name that is not ours", () => {
  it("is not read, and the warning says rise/fall cannot be remembered", () => {
    const data = encodeMemory({ backends: { "10.0.0.1": healthy(NOW) } }).base64;
    const read = readMemory(configMap(data, { [MANAGED_BY]: "helm" }), WRITER);
    assert.deepEqual(read.memory, { backends: {} });
    assert.equal(
      read.problem,
      "memory ConfigMap ns/svc-ees-memory is not ours (managed by helm), so it is left alone and rise/fall cannot be remembered: each backend takes this run's verdict",
    );
  });
});

describe("memory: size", () => {
  it("1k, 10k and 50k IPv4 and IPv6 backends fit whole under the bound", (context) => {
    for (const family of ["IPv4", "IPv6"] as const) {
      for (const count of [1000, 10_000, 50_000]) {
        const memory = fleetMemory(count, family, NOW);
        const started = performance.now();
        const encoded = encodeMemory(memory);
        const encodedAt = performance.now();
        const decoded = decodeMemory(encoded.base64);
        const decodedAt = performance.now();
        const times = `encode ${Math.round(encodedAt - started)} ms, decode ${Math.round(decodedAt - encodedAt)} ms`;
        context.diagnostic(`${count} ${family}: ${encoded.bytes} bytes gzip, ${encoded.base64.length} base64; ${times}`);
        assert.equal(encoded.trimmed, undefined);
        assert.ok(encoded.bytes <= MAX_STORED_BYTES);
        assert.equal(Object.keys(decoded.memory.backends).length, count);
      }
    }
  });

  it("the ConfigMap planned for 50,000 IPv6 backends is under the bound", () => {
    const [change] = planMemory(SERVICE, { next: fleetMemory(50_000, "IPv6", NOW), existing: undefined, stored: { backends: {} } });
    const data = (change!.object as V1ConfigMap).binaryData!["memory.json.gz"]!;
    assert.ok(Buffer.from(data, "base64").length <= MAX_STORED_BYTES);
  });

  it("past the bound: details go first, then unchecked backends, then steady healthy ones oldest first; reported when read", () => {
    // 90,000 IPv6 backends with times spread at random: too big whole.
    const backends: Record<string, BackendMemory> = {};
    const kinds = new Map<string, "unchecked" | "steady" | "streak">();
    for (let index = 0; index < 90_000; index++) {
      const address = randomIpv6();
      const since = NOW - Math.floor(Math.random() * 30 * 86_400_000);
      const kind = index % 10 === 0 ? "unchecked" : index % 10 === 1 ? "streak" : "steady";
      kinds.set(address, kind);
      if (kind === "unchecked") backends[address] = { sources: ["static"] };
      else if (kind === "steady") backends[address] = healthy(since);
      else backends[address] = { sources: ["static"], health: { healthy: true, streak: 1, reason: "Timeout", detail: "http: timed out", since: iso(since), probedAt: iso(NOW) } };
    }
    const encoded = encodeMemory({ backends });
    assert.ok(encoded.bytes <= MAX_STORED_BYTES);
    const read = readMemory(configMap(encoded.base64), WRITER);
    const kept = read.memory.backends;
    const dropped = [...kinds.keys()].filter((address) => !(address in kept));
    assert.ok(dropped.length > 0);
    assert.deepEqual(encoded.trimmed, { records: dropped.length, details: true });
    assert.match(read.problem!, new RegExp(`trimmed when written to fit its size bound: ${dropped.length} backend record\\(s\\) left out, failure details dropped`));
    // Every unchecked record went before any steady one; records with a streak are all kept, without details.
    assert.ok(Object.keys(kept).every((address) => kinds.get(address) !== "unchecked"));
    assert.ok(dropped.every((address) => kinds.get(address) !== "streak"));
    assert.ok(Object.values(kept).every((record) => record.health?.detail === undefined));
    const newestDropped = Math.max(...dropped.filter((address) => kinds.get(address) === "steady").map((address) => Date.parse(backends[address]!.health!.probedAt)));
    const oldestKept = Math.min(...Object.keys(kept).filter((address) => kinds.get(address) === "steady").map((address) => Date.parse(backends[address]!.health!.probedAt)));
    assert.ok(newestDropped <= oldestKept, "steady healthy records go oldest first");
  });
});
