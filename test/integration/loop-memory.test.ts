// The loop does not grow: `run`'s loop (loop-memory-child.ts, runLoop as the CLI starts it) ticking 250 times
// every fifth of a second against a real API server and 20 real HTTP backends, its heap sampled after a full GC.
// Kept reports, clients or connections would pile up at several KB a tick (a report of 20 backends alone is
// over 10 KB): past the first fifth, the objects' slope over the runs and the change between the early and
// late samples' medians stay far below that. Compiled code is left out: V8 adds to it as it optimizes more
// functions, about 0.5 KB a run over the first thousand runs. `npm run bench` runs 1,000 ticks.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { heapGrowth, measureLoopMemory } from "../harness/loop-memory.ts";

describe("run's loop memory", () => {
  it("does not grow over 250 ticks", { timeout: 300_000 }, async (t) => {
    const memory = await measureLoopMemory({ runs: 250, intervalSeconds: 0.2, backends: 20, namespace: "ees-loop-mem", network: { name: "ees-loopmem", subnetIndex: 162 } });
    const growth = heapGrowth(memory);
    t.diagnostic(JSON.stringify({ runs: memory.runs, failedRuns: memory.failedRuns, overruns: memory.overruns, durationMs: memory.durationMs, ...growth }));
    assert.ok(growth.samples >= 20, `${growth.samples} samples past the warm-up`);
    assert.ok(growth.objectsSlopeBytesPerRun < 3072, `objects' slope ${Math.round(growth.objectsSlopeBytesPerRun)} bytes a run`);
    assert.ok(growth.lateObjectsMB - growth.earlyObjectsMB < 0.5, `objects ${growth.earlyObjectsMB.toFixed(2)} MB early, ${growth.lateObjectsMB.toFixed(2)} MB late`);
  });
});
