// The memory ConfigMap's format. What it holds is untrusted: anyone who may edit ConfigMaps in the namespace
// can write it. Reading is bounded in bytes and lines, and every record is checked alone.
import { isIPv4 } from "node:net";
import { gunzipSync, gzipSync } from "node:zlib";
import * as z from "zod";
import { checkAddress } from "../decide/addresses.ts";
import type { GuardName } from "../decide/guards.ts";
import type { BackendHealth, BackendMemory, TargetMemory } from "../decide/memory.ts";
import { MAX_EVENT_MESSAGE } from "../kube/events.ts";
import type { ReasonCode } from "../model.ts";

/** gzip bytes we write at most: 3/4 of the 1 MiB the API server allows a ConfigMap (it counts binaryData decoded). */
export const MAX_STORED_BYTES = 768 * 1024;
/** Uncompressed bytes, read or written: 50,000 IPv6 backends take about 3 MB; a gzip bomb stops here. */
export const MAX_TEXT_BYTES = 4 * 1024 * 1024;
/** Records, read or written: each costs a parse and a check, so a hostile memory's cost is bounded here. */
export const MAX_RECORDS = 100_000;
/** Bad records forgotten one by one; past this many the whole is: a bad line costs a thrown error, 20 times a good one. */
export const MAX_BAD_RECORDS = 1000;
/** The older single-document format is parsed whole, and JSON's objects cost up to 20 times their text in heap. */
const MAX_V1_CHARS = 1024 * 1024;
const MAX_HEADER_CHARS = 64 * 1024;
/** A failure's detail kept across runs; longer ones are cut when written. */
export const MAX_DETAIL_CHARS = 1000;
/** A record's line, a detail escaped to \uXXXX throughout included: a bad line costs no more than this to parse. */
const MAX_LINE_CHARS = 8 * 1024;
/** rise and fall are at most 10 (config/schema.ts): a streak resets before it gets there. */
const MAX_STREAK = 10;
/** 9999-12-31T23:59:59Z, the last second an ISO 8601 date with a 4-digit year can name. */
const MAX_SECONDS = 253_402_300_799;

const REASONS = [
  "Passed", "NotChecked", "Timeout", "ConnRefused", "ConnReset", "Unreachable", "TLSVerify", "TLSError", "StatusMismatch",
  "BodyMismatch", "NotServing", "EtcdUnhealthy", "ProtocolError", "SourceUnhealthy", "CheckerError",
] as const satisfies readonly ReasonCode[];
const GUARDS = ["failedSource", "minHealthy", "neverEmpty", "maxRemovalsPerRun", "checkerSelfCheck"] as const satisfies readonly GuardName[];
type AllListed<Listed, All> = [All] extends [Listed] ? true : false;
// A reason code or guard added to its type but not listed here fails the type check.
true satisfies AllListed<(typeof REASONS)[number], ReasonCode>;
true satisfies AllListed<(typeof GUARDS)[number], GuardName>;

const sourceName = z.string().min(1).max(253);
const sources = z.array(sourceName).min(1).max(64);
const trippedGuards = z.array(z.enum(GUARDS)).max(GUARDS.length).optional();
const syncFailed = z.string().min(1).max(MAX_EVENT_MESSAGE).optional();
const reason = z.enum(REASONS);
const streak = z.int().min(0).max(MAX_STREAK);
const detail = z.string().max(MAX_DETAIL_CHARS);

/**
 * Format 2, gzipped JSON lines, so that no one parse sees more than a line: a header
 * `{"v":2,"sourceSets":[["dns"],["dns","static"]],"trippedGuards":[...],"syncFailed":"...","trimmed":{...}}`, then one line per backend:
 * `[address, sourceSet]` for an unchecked one, `[address, sourceSet, healthy 0|1, streak, reason, since, probedAt - since, detail?]`
 * with times in epoch seconds. Sorted by address: neighbouring IPv6 addresses share their prefix, which gzip finds.
 */
const header = z.object({
  v: z.literal(2),
  sourceSets: z.array(sources).max(4096),
  trippedGuards,
  syncFailed,
  /** What the writer left out to fit (planMemory): reported when read. */
  trimmed: z.object({ records: z.int().min(0), details: z.boolean() }).optional(),
});
type Header = z.infer<typeof header>;
/** What the header holds besides the backends' records. */
type Notes = Pick<TargetMemory, "trippedGuards" | "syncFailed">;
type Row = [address: string, sourceSet: number] | [address: string, sourceSet: number, healthy: 0 | 1, streak: number, reason: ReasonCode, since: number, probedAfter: number, detail?: string];
const REASON_CODES: ReadonlySet<unknown> = new Set(REASONS);
const isCount = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;
const isSeconds = (value: unknown): value is number => isCount(value) && value <= MAX_SECONDS;

/**
 * A record's line as Row, or undefined: checked by hand, as zod's tuple schemas would (z.int() is a safe integer),
 * because at 10,000 records their parse cost more than the rest of reading the memory.
 */
function rowOf(value: unknown): Row | undefined {
  if (!Array.isArray(value) || typeof value[0] !== "string" || !isCount(value[1])) return undefined;
  if (value.length === 2) return value as Row;
  if (value.length !== 7 && value.length !== 8) return undefined;
  const [, , healthy, streak, reason, since, probedAfter, detail] = value as unknown[];
  if ((healthy !== 0 && healthy !== 1) || !isCount(streak) || streak > MAX_STREAK || !REASON_CODES.has(reason) || !isSeconds(since) || !isSeconds(probedAfter)) return undefined;
  if (value.length === 8 && (typeof detail !== "string" || detail.length > MAX_DETAIL_CHARS)) return undefined;
  return value as Row;
}

/** Format 1 (before format 2): `{"backends":{"10.0.0.1":{"sources":[...],"health":{...}}},"trippedGuards":[...]}`. */
const isoDate = z.iso.datetime();
const v1Whole = z.object({ backends: z.record(z.string(), z.unknown()), trippedGuards });
const v1Record = z.object({
  sources,
  health: z.object({ healthy: z.boolean(), streak, reason, detail: detail.optional(), since: isoDate, probedAt: isoDate }).optional(),
});

export interface Decoded {
  memory: TargetMemory;
  /** Records dropped as unreadable: those backends start afresh. */
  badRecords: number;
  /** One of them, quoted and cut short, for the report. */
  example?: string;
  trimmed?: Header["trimmed"];
}

/** Thrown when the memory as a whole cannot be read; the caller starts afresh. */
export class MemoryFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MemoryFormatError";
  }
}

/** The memory in base64 gzip, as the ConfigMap's binaryData holds it. */
export function decodeMemory(base64: string): Decoded {
  if (base64.length > Math.ceil(MAX_STORED_BYTES / 3) * 4) throw new MemoryFormatError(`${base64.length} characters of base64, over the ${MAX_STORED_BYTES}-byte bound`);
  let text: string;
  try {
    text = gunzipSync(Buffer.from(base64, "base64"), { maxOutputLength: MAX_TEXT_BYTES }).toString("utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new MemoryFormatError(code === "ERR_BUFFER_TOO_LARGE" ? `over ${MAX_TEXT_BYTES} bytes uncompressed` : `not gzip (${code ?? (error as Error).message})`);
  }
  const newline = text.indexOf("\n");
  return newline === -1 ? decodeV1(text) : decodeV2(text, newline);
}

function decodeV2(text: string, newline: number): Decoded {
  if (newline > MAX_HEADER_CHARS) throw new MemoryFormatError(`a header line of ${newline} characters, over ${MAX_HEADER_CHARS}`);
  const top = header.safeParse(parseJson(text.slice(0, newline)));
  if (!top.success) throw new MemoryFormatError(`a header that is not format 2: ${briefly(top.error)}`);
  let lines = 0;
  for (let at = text.indexOf("\n", newline + 1); at !== -1; at = text.indexOf("\n", at + 1)) lines++;
  if (lines > MAX_RECORDS) throw new MemoryFormatError(`${lines} records, over ${MAX_RECORDS}`);
  const { sourceSets, trippedGuards, syncFailed, trimmed } = top.data;
  const decoded = new Decoding();
  // Most records share their times (a fleet's backends probed in the same runs): each date text made once.
  const dates = new Map<number, string>();
  for (let start = newline + 1; start < text.length; ) {
    const end = text.indexOf("\n", start);
    const line = text.slice(start, end === -1 ? text.length : end);
    start = end === -1 ? text.length : end + 1;
    const value = line.length <= MAX_LINE_CHARS ? parseJson(line) : undefined;
    const row = rowOf(value);
    const first: unknown = Array.isArray(value) ? value[0] : line;
    const address = typeof first === "string" ? addressOf(first) : undefined;
    decoded.add(address, address ?? first, row ? fromRow(row, sourceSets, dates) : undefined);
  }
  return decoded.result({ trippedGuards, syncFailed }, trimmed);
}

function fromRow(data: Row, sourceSets: string[][], dates: Map<number, string>): BackendMemory | undefined {
  const sources = sourceSets[data[1]];
  if (!sources) return undefined;
  if (data.length === 2) return { sources };
  const [, , healthy, streak, reason, since, probedAfter, detail] = data;
  if (since + probedAfter > MAX_SECONDS) return undefined;
  const health: BackendHealth = { healthy: healthy === 1, streak, reason, ...(detail !== undefined && { detail }), since: isoOf(since, dates), probedAt: isoOf(since + probedAfter, dates) };
  return { sources, health };
}

function decodeV1(text: string): Decoded {
  if (text.length > MAX_V1_CHARS) throw new MemoryFormatError(`format 1 over ${MAX_V1_CHARS} characters`);
  const whole = v1Whole.safeParse(parseJson(text));
  if (!whole.success) throw new MemoryFormatError(`neither format 1 nor 2: ${briefly(whole.error)}`);
  const decoded = new Decoding();
  for (const [address, value] of Object.entries(whole.data.backends)) {
    const parsed = v1Record.safeParse(value);
    decoded.add(address, address, parsed.success ? parsed.data : undefined);
  }
  return decoded.result({ trippedGuards: whole.data.trippedGuards }, undefined);
}

/** Collects records, dropping a bad one (or a second one for an address) alone. */
class Decoding {
  // Built as the memory holds it: copying 10,000 records from a Map into an object costs more than reading them.
  readonly backends: Record<string, BackendMemory> = {};
  badRecords = 0;
  example?: string;

  /** `shown`: what names the record in the report when it is bad. */
  add(address: string | undefined, shown: unknown, record: BackendMemory | undefined): void {
    // Keyed by the canonical form: a memory record is looked up by the address a source's backend merged to.
    const checked = address === undefined ? undefined : checkAddress(address);
    if (record && checked?.ok && !Object.hasOwn(this.backends, checked.address)) {
      this.backends[checked.address] = record;
      return;
    }
    if (++this.badRecords > MAX_BAD_RECORDS) throw new MemoryFormatError(`over ${MAX_BAD_RECORDS} unreadable records`);
    this.example ??= JSON.stringify(typeof shown === "string" ? shown.slice(0, 60) : shown)?.slice(0, 80);
  }

  result({ trippedGuards, syncFailed }: Notes, trimmed: Header["trimmed"]): Decoded {
    const memory: TargetMemory = {
      backends: this.backends,
      ...(trippedGuards && trippedGuards.length > 0 && { trippedGuards }),
      ...(syncFailed !== undefined && { syncFailed }),
    };
    return { memory, badRecords: this.badRecords, ...(this.example !== undefined && { example: this.example }), ...(trimmed && { trimmed }) };
  }
}

/** zod's account of what is wrong, on one line and cut short: its paths may quote what was written there. */
const briefly = (error: z.ZodError) => z.prettifyError(error).replaceAll("\n", " ").slice(0, 300);

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** An address as base64 of its 4 or 16 bytes: a quarter smaller gzipped than its text. */
function addressBytes(address: string): string {
  if (isIPv4(address)) return Buffer.from(address.split(".").map(Number)).toString("base64");
  // Canonical IPv6 (checkAddress): hex groups, at most one "::", no dotted tail.
  const [head, tail] = address.split("::");
  const groups = (part: string | undefined) => (part ? part.split(":") : []);
  const all = tail === undefined ? groups(head) : [...groups(head), ...Array<string>(8 - groups(head).length - groups(tail).length).fill("0"), ...groups(tail)];
  const bytes = Buffer.alloc(16);
  all.forEach((group, index) => bytes.writeUInt16BE(Number.parseInt(group, 16), index * 2));
  return bytes.toString("base64");
}

/** The text addressBytes came from, for checkAddress to judge; none when it is not base64 of 4 or 16 bytes. */
function addressOf(base64: string): string | undefined {
  const bytes = Buffer.from(base64, "base64");
  if (bytes.toString("base64") !== base64) return undefined;
  if (bytes.length === 4) return bytes.join(".");
  if (bytes.length !== 16) return undefined;
  return Array.from({ length: 8 }, (_, index) => bytes.readUInt16BE(index * 2).toString(16)).join(":");
}

function isoOf(epochSeconds: number, made: Map<number, string>): string {
  let iso = made.get(epochSeconds);
  if (iso === undefined) made.set(epochSeconds, (iso = new Date(epochSeconds * 1000).toISOString()));
  return iso;
}
const secondsOf = (iso: string) => Math.floor(Date.parse(iso) / 1000);

export interface Encoded {
  /** base64 of the gzip, for binaryData. */
  base64: string;
  /** gzip bytes. */
  bytes: number;
  trimmed?: Header["trimmed"];
}

/**
 * The memory in format 2, within MAX_STORED_BYTES gzipped, MAX_TEXT_BYTES plain and MAX_RECORDS. Past any it is trimmed,
 * by this rule: first every failure's `detail` goes; then whole records, those of unchecked backends first
 * (only their sources), then of steady healthy ones (healthy, no streak), then the rest, oldest `probedAt` first. A
 * backend without a record takes its next verdict as if seen for the first time.
 */
export function encodeMemory(memory: TargetMemory): Encoded {
  const entries = Object.entries(memory.backends).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const notes: Notes = { trippedGuards: memory.trippedGuards, syncFailed: memory.syncFailed };
  const whole = encodeEntries(entries, notes, undefined, true);
  if (whole.fits) return whole.encoded;
  const noDetails = encodeEntries(entries, notes, { records: 0, details: true }, false);
  if (noDetails.fits) return noDetails.encoded;
  const byLeastNeeded = entries.map((entry, index) => ({ index, rank: trimRank(entry[1]) })).sort((a, b) => a.rank[0] - b.rank[0] || a.rank[1] - b.rank[1]);
  let attempt = noDetails;
  let dropped = 0;
  while (!attempt.fits && dropped < entries.length) {
    // Shrink in proportion to the overshoot, and a little more, so a few passes do.
    const ratio = Math.min(MAX_STORED_BYTES / attempt.encoded.bytes, MAX_TEXT_BYTES / attempt.textBytes, MAX_RECORDS / (entries.length - dropped));
    dropped = Math.min(entries.length, Math.max(dropped + 1, Math.ceil(entries.length - (entries.length - dropped) * ratio * 0.97)));
    const gone = new Set(byLeastNeeded.slice(0, dropped).map(({ index }) => index));
    attempt = encodeEntries(entries.filter((_entry, index) => !gone.has(index)), notes, { records: dropped, details: true }, false);
  }
  return attempt.encoded;
}

/** Lower goes first when trimming: [group, probedAt]. */
function trimRank(record: BackendMemory): [number, number] {
  const health = record.health;
  if (!health) return [0, 0];
  return [health.healthy && health.streak === 0 ? 1 : 2, Date.parse(health.probedAt)];
}

function encodeEntries(entries: [string, BackendMemory][], { trippedGuards: guards, syncFailed }: Notes, trimmed: Header["trimmed"], details: boolean) {
  const setIndex = new Map<string, number>();
  const sourceSets: string[][] = [];
  const lines: string[] = [];
  for (const [address, { sources, health }] of entries) {
    const key = JSON.stringify(sources);
    let set = setIndex.get(key);
    if (set === undefined) setIndex.set(key, (set = sourceSets.push(sources) - 1));
    if (!health) {
      lines.push(JSON.stringify([addressBytes(address), set]));
      continue;
    }
    const since = secondsOf(health.since);
    const row = [addressBytes(address), set, health.healthy ? 1 : 0, health.streak, health.reason, since, Math.max(0, secondsOf(health.probedAt) - since)];
    if (details && health.detail !== undefined) row.push(health.detail.slice(0, MAX_DETAIL_CHARS));
    lines.push(JSON.stringify(row));
  }
  const top = { v: 2, sourceSets, ...(guards && guards.length > 0 && { trippedGuards: guards }), ...(syncFailed !== undefined && { syncFailed }), ...(trimmed && { trimmed }) };
  const text = `${JSON.stringify(top)}\n${lines.map((line) => `${line}\n`).join("")}`;
  const gzip = gzipSync(text, { level: 9 });
  const textBytes = Buffer.byteLength(text);
  return {
    fits: gzip.length <= MAX_STORED_BYTES && textBytes <= MAX_TEXT_BYTES && lines.length <= MAX_RECORDS,
    textBytes,
    encoded: { base64: gzip.toString("base64"), bytes: gzip.length, ...(trimmed && { trimmed }) } satisfies Encoded,
  };
}
