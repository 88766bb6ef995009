// probeAll's scheduling (health/probe-all.ts), with a check that only records what it is asked and answers after
// a set delay: the order probes start in and how many run at once, which no real server could show as exactly.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import pLimit from "p-limit";
import type { Check } from "../../functions/health/check.ts";
import { probeAll } from "../../functions/health/probe-all.ts";
import type { Backend, Verdict } from "../../functions/model.ts";

const backends = (prefix: string, count: number): Backend[] =>
  Array.from({ length: count }, (_, index) => ({ address: `${prefix}.${index + 1}`, family: "IPv4", sources: ["test"] }));

/** Slow for addresses starting with `slowPrefix` (they time out), quick for the rest; tracks what is in flight. */
function recordingCheck(slowPrefix: string) {
  const started: string[] = [];
  let inFlight = 0;
  let slowInFlight = 0;
  const peaks = { inFlight: 0, slowInFlight: 0 };
  const check: Check = {
    kind: "recording",
    probe: async (backend): Promise<Verdict> => {
      const slow = backend.address.startsWith(slowPrefix);
      started.push(backend.address);
      inFlight++;
      if (slow) slowInFlight++;
      peaks.inFlight = Math.max(peaks.inFlight, inFlight);
      peaks.slowInFlight = Math.max(peaks.slowInFlight, slowInFlight);
      await new Promise((resolve) => setTimeout(resolve, slow ? 40 : 2));
      inFlight--;
      if (slow) slowInFlight--;
      return slow ? { status: "fail", reason: "Timeout", latencyMs: 40 } : { status: "pass", reason: "Passed", latencyMs: 2 };
    },
  };
  return { check, started, peaks };
}

const run = (limit: number, timedOutBefore: Set<string>) => ({ limit: pLimit(limit), signal: new AbortController().signal, recheckDelayMs: 0, timedOutBefore });

describe("probeAll scheduling, with a made-up check for backends (exact delays no real server keeps)", () => {
  it("starts what timed out last run first, on at most three quarters of the slots, and probes everything once", async () => {
    const dark = backends("10.0.1", 6);
    const lit = backends("10.0.2", 30);
    const { check, started, peaks } = recordingCheck("10.0.1.");

    const verdicts = await probeAll([...lit, ...dark], check, run(8, new Set(dark.map((backend) => backend.address))));

    assert.deepEqual(started.slice(0, 6).map((address) => address.startsWith("10.0.1.")), [true, true, true, true, true, true]);
    assert.equal(peaks.slowInFlight, 6);
    assert.equal(started.length, 36);
    assert.equal(new Set(started).size, 36);
    assert.equal(verdicts.size, 36);
  });

  it("keeps a quarter of the slots for the others while there are more suspects than slots", async () => {
    const dark = backends("10.0.1", 20);
    const lit = backends("10.0.2", 200);
    const { check, started, peaks } = recordingCheck("10.0.1.");

    await probeAll([...lit, ...dark], check, run(8, new Set(dark.map((backend) => backend.address))));

    assert.equal(peaks.slowInFlight, 6, "6 of 8 slots for the suspects while others wait");
    assert.deepEqual(started.slice(0, 8).map((address) => address.startsWith("10.0.1.")), [true, true, true, true, true, true, false, false]);
  });

  it("gives every slot to the suspects once the others are done", async () => {
    const dark = backends("10.0.1", 12);
    const { check, peaks } = recordingCheck("10.0.1.");

    await probeAll(dark, check, run(4, new Set(dark.map((backend) => backend.address))));

    assert.equal(peaks.inFlight, 4);
  });

  it("without hints, spreads the order at random", async () => {
    const all = backends("10.0.3", 50);
    const orders = new Set<string>();
    for (let attempt = 0; attempt < 3; attempt++) {
      const { check, started } = recordingCheck("none");
      await probeAll(all, check, run(1, new Set()));
      assert.equal(started.length, 50);
      orders.add(started.join());
    }
    assert.equal(orders.size, 3, "three runs, three orders");
  });
});
