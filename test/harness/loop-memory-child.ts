// The loop whose memory test/harness/loop-memory.ts measures: runLoop in this process (started with
// --expose-gc), logging as in production; every SAMPLE_MS, after a full GC, as a JSON line on fd 3: the heap, the
// part of it that holds the program's objects (V8's new, old and large-object spaces: not compiled code, which
// V8 keeps adding as it optimizes more functions over the first thousand runs), and the RSS.
//   node --expose-gc loop-memory-child.ts CONFIG INTERVAL_SECONDS
// INTERVAL_SECONDS may be a fraction, below what --every allows, so that 1,000 ticks take minutes.
import { createWriteStream } from "node:fs";
import { getHeapSpaceStatistics } from "node:v8";
import { loadConfig } from "../../functions/config/load.ts";
import { runLoop, stopOnSignals } from "../../functions/loop.ts";

const SAMPLE_MS = 1_000;
const OBJECT_SPACES = new Set(["new_space", "old_space", "new_large_object_space", "large_object_space"]);
const [configPath, interval] = process.argv.slice(2);
if (!configPath || !(Number(interval) > 0)) throw new Error("usage: loop-memory-child.ts CONFIG INTERVAL_SECONDS");
const gc = globalThis.gc;
if (!gc) throw new Error("start with --expose-gc");

const samples = createWriteStream("", { fd: 3 });
const sample = () => {
  gc();
  const { heapUsed, rss } = process.memoryUsage();
  const objects = getHeapSpaceStatistics()
    .filter((space) => OBJECT_SPACES.has(space.space_name))
    .reduce((sum, space) => sum + space.space_used_size, 0);
  samples.write(`${JSON.stringify({ heapUsed, objects, rss })}\n`);
};
setInterval(sample, SAMPLE_MS).unref();
const config = await loadConfig(configPath);
await runLoop({ ...config, syncIntervalSeconds: Number(interval) }, { installation: "default", signal: stopOnSignals() });
sample();
samples.end(() => process.exit(0));
