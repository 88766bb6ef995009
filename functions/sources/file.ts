import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { isIP } from "node:net";
import type { FileSourceConfig } from "../config/schema.ts";
import { errorMessage } from "../errors.ts";
import type { Backend, SourceResult } from "../model.ts";
import { isDnsLabel } from "./names.ts";
import type { Source } from "./source.ts";

/** Past this the file is refused, not read: a list of backends is kilobytes, and a runaway file must not fill memory. */
export const MAX_FILE_BYTES = 1_048_576;
/** Reading a local file takes milliseconds; a stuck network file system must not hold the run. */
export const READ_TIMEOUT_MS = 5_000;
/** How much of a bad word an error quotes: enough to find it, never a whole line of a huge file. */
const QUOTED_CHARS = 64;

/**
 * Addresses listed in a file, read afresh at every run: one backend a line, `ADDRESS [HOSTNAME]`, with `#`
 * comments and blank lines. Any bad line fails the source (which keeps what it published): publishing the
 * rest would drop that line's backend.
 */
export class FileSource implements Source {
  readonly name: string;
  readonly #path: string;

  constructor(name: string, config: FileSourceConfig) {
    this.name = name;
    this.#path = config.path;
  }

  async discover(signal: AbortSignal): Promise<SourceResult> {
    try {
      const text = await readCapped(this.#path, signal);
      return { source: this.name, status: "ok", backends: parseBackends(text, this.#path, this.name) };
    } catch (error) {
      return { source: this.name, status: "failed", error: errorMessage(error) };
    }
  }
}

/** The file's text, or an error naming the path: missing, not a regular file, too big, not UTF-8, or too slow. */
async function readCapped(path: string, signal: AbortSignal): Promise<string> {
  const fail = (why: string) => new Error(`cannot read ${path}: ${why}`);
  const reading = (async () => {
    // O_NONBLOCK: opening a FIFO would otherwise wait for a writer, holding a thread of libuv's small pool.
    const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch((error: NodeJS.ErrnoException) => {
      throw fail(error.code ?? error.message);
    });
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw fail("not a regular file");
      if (stats.size > MAX_FILE_BYTES) throw fail(`${stats.size} bytes, more than ${MAX_FILE_BYTES}`);
      // One byte past the cap tells a file that grew since stat from one that fits.
      const buffer = Buffer.alloc(MAX_FILE_BYTES + 1);
      let length = 0;
      for (;;) {
        const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
        if (bytesRead === 0) break;
        length += bytesRead;
        if (length > MAX_FILE_BYTES) throw fail(`more than ${MAX_FILE_BYTES} bytes`);
      }
      if (length === 0) throw fail("the file is empty (a file being rewritten in place looks so); to list no backends, write a comment");
      try {
        return new TextDecoder("utf-8", { fatal: true }).decode(buffer.subarray(0, length));
      } catch {
        throw fail("not UTF-8 text");
      }
    } finally {
      await handle.close();
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const stopped = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(fail(`no answer within ${READ_TIMEOUT_MS} ms`)), READ_TIMEOUT_MS);
    onAbort = () => reject(fail("the run was cancelled"));
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
  });
  // A read left behind settles in its own time and closes its handle; nobody waits for it.
  reading.catch(() => {});
  try {
    return await Promise.race([reading, stopped]);
  } finally {
    clearTimeout(timer);
    signal.removeEventListener("abort", onAbort!);
  }
}

/** One backend a line: `ADDRESS` or `ADDRESS HOSTNAME`; `#` starts a comment. Errors give the line's number. */
function parseBackends(text: string, path: string, source: string): Backend[] {
  const backends: Backend[] = [];
  text.split("\n").forEach((raw, index) => {
    const words = raw.replace(/#.*/, "").trim().split(/\s+/).filter((word) => word !== "");
    if (words.length === 0) return;
    const where = `${path} line ${index + 1}`;
    const [address, hostname, ...rest] = words;
    if (rest.length > 0) throw new Error(`${where}: expected an address and at most a hostname, got ${words.length} words`);
    const family = isIP(address!);
    if (family === 0) throw new Error(`${where}: expected an IPv4 or IPv6 address, got ${quoted(address!)}`);
    if (hostname !== undefined && !isDnsLabel(hostname)) throw new Error(`${where}: expected a hostname that is a DNS label (lower-case letters, digits and '-'), got ${quoted(hostname)}`);
    backends.push({ address: address!, family: family === 6 ? "IPv6" : "IPv4", hostname, sources: [source] });
  });
  return backends;
}

function quoted(word: string): string {
  return JSON.stringify(word.length > QUOTED_CHARS ? `${word.slice(0, QUOTED_CHARS)}...` : word);
}
