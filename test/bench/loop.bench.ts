// npm run bench: `run`'s loop over 1,000 ticks (LOOP_BENCH_RUNS), a quarter second apart, syncing 20 real HTTP
// backends into a real API server (test/harness/loop-memory.ts): after a full GC, the heap, its object spaces
// (the heap less compiled code) and the RSS every tenth of the runs, then the growth past the first fifth.
// Exits 1 when the objects grow.
import { heapGrowth, measureLoopMemory } from "../harness/loop-memory.ts";

const given = process.env.LOOP_BENCH_RUNS;
const runs = given === undefined || given === "" ? 1000 : Number(given);
if (!Number.isInteger(runs) || runs < 10) throw new Error(`LOOP_BENCH_RUNS must be an integer of at least 10, got ${JSON.stringify(given)}`);
const MB = 1024 * 1024;
const mb = (bytes: number) => (bytes / MB).toFixed(2);

console.log(`run's loop: ${runs} ticks every 0.25 s, 20 HTTP backends, one target`);
const memory = await measureLoopMemory({ runs, intervalSeconds: 0.25, backends: 20, namespace: "ees-loop-bench", network: { name: "ees-loop-bn", subnetIndex: 163 }, progress: (line) => console.log(line) });
console.log(" runs   heap (MB)   objects (MB)   RSS (MB)");
for (let mark = 0; mark <= runs; mark += runs / 10) {
  const sample = memory.samples.find((candidate) => candidate.runs >= mark);
  if (sample) console.log(`${String(sample.runs).padStart(5)}   ${mb(sample.heapUsed).padStart(9)}   ${mb(sample.objects).padStart(12)}   ${mb(sample.rss).padStart(8)}`);
}
const growth = heapGrowth(memory);
console.log(`${memory.runs} runs in ${(memory.durationMs / 1000).toFixed(0)} s (${memory.failedRuns} failed, ${memory.overruns} outlasted the interval); past the first fifth (${growth.samples} samples, medians of the fifths):`);
console.log(`  objects ${growth.earlyObjectsMB.toFixed(2)} → ${growth.lateObjectsMB.toFixed(2)} MB, slope ${Math.round(growth.objectsSlopeBytesPerRun)} bytes a run`);
console.log(`  heap    ${growth.earlyHeapMB.toFixed(2)} → ${growth.lateHeapMB.toFixed(2)} MB, slope ${Math.round(growth.heapSlopeBytesPerRun)} bytes a run`);
console.log(`  RSS     ${growth.earlyRssMB.toFixed(1)} → ${growth.lateRssMB.toFixed(1)} MB, peak ${growth.peakRssMB.toFixed(1)} MB`);
if (memory.firstError) console.log(`first error logged: ${memory.firstError}`);
const grows = growth.objectsSlopeBytesPerRun > 512 || growth.lateObjectsMB - growth.earlyObjectsMB > 0.5;
process.exit(grows ? 1 : 0);
