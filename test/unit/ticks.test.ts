// syncEvery, the loop's schedule, over the in-memory fake API server (test/harness/fake-kube.ts; documentation
// addresses with `check: none`, nothing probed). test/integration/loop.test.ts runs the loop against a real one.
//
// Cases: ticks on a grid an interval apart, never early and never overlapping; a run that outlasts the interval
// delays the next tick, which then starts at once, and says by how much; an abort during the wait ends it at once, and one during a run lets that run finish and be yielded.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validateConfig } from "../../functions/config/load.ts";
import type { Config } from "../../functions/config/schema.ts";
import { syncEvery, type Tick } from "../../functions/engine/ticks.ts";
import { FakeKube } from "../harness/fake-kube.ts";

const NAMESPACE = "shop";

/** `intervalSeconds` may be a fraction, below what the schema allows, so that ticks take milliseconds. */
function setup(intervalSeconds: number): { fake: FakeKube; config: Config } {
  const result = validateConfig({
    clusters: [{ name: "main" }],
    targets: [{ name: "db", cluster: "main", namespace: NAMESPACE, service: "db", ports: [{ port: 5432 }], sources: [{ static: [{ address: "192.0.2.10" }] }], check: { none: {} } }],
  });
  if (!result.ok) throw new Error(result.problems.join("\n"));
  const fake = new FakeKube();
  fake.seed({ kind: "Service", metadata: { name: "db", namespace: NAMESPACE }, spec: { ports: [{ port: 5432, protocol: "TCP" }] } });
  return { fake, config: { ...result.config, syncIntervalSeconds: intervalSeconds } };
}

async function take(ticks: AsyncGenerator<Tick>, count: number): Promise<Tick[]> {
  const taken: Tick[] = [];
  for await (const tick of ticks) {
    taken.push(tick);
    if (taken.length === count) break;
  }
  return taken;
}

describe("syncEvery", () => {
  it("ticks an interval apart, never early and never overlapping", async () => {
    const { fake, config } = setup(0.1);
    const ticks = await take(syncEvery(config, fake.connections(), { installation: "default", signal: new AbortController().signal }), 4);
    assert.deepEqual(ticks.map((tick) => tick.report.ok), [true, true, true, true]);
    assert.deepEqual(ticks.map((tick) => tick.report.targets[0]!.status), ["synced", "unchanged", "unchanged", "unchanged"]);
    for (const [index, tick] of ticks.entries()) {
      if (index === 0) continue;
      const previous = ticks[index - 1]!;
      assert.ok(tick.startedAt >= previous.finishedAt, "the next run starts after the last finished");
      // On a grid from the first tick, as a schedule's rate: a timer that fired late does not move the next.
      // Date.now() is whole milliseconds, the schedule is not.
      assert.ok(tick.startedAt - ticks[0]!.startedAt >= index * 100 - 1, `tick ${index} started ${tick.startedAt - ticks[0]!.startedAt} ms after the first`);
    }
  });

  it("delays the next tick after a run that outlasts the interval, and starts it at once", async () => {
    const { fake, config } = setup(0.2);
    // The first run's slice write blocks the process for 500 ms.
    fake.beforeNext("create", "endpointslices", () => {
      const until = performance.now() + 500;
      while (performance.now() < until);
    });
    const [first, second] = await take(syncEvery(config, fake.connections(), { installation: "default", signal: new AbortController().signal }), 2);
    assert.ok(first!.overrunMs >= 250, `overran by ${first!.overrunMs} ms`);
    assert.ok(second!.startedAt - first!.finishedAt < 200, `the next started ${second!.startedAt - first!.finishedAt} ms after`);
    assert.equal(second!.overrunMs, 0);
  });

  it("stops at once when aborted between ticks, and after the run under way when aborted during one", async () => {
    const { fake, config } = setup(60);
    const stop = new AbortController();
    const ticks = syncEvery(config, fake.connections(), { installation: "default", signal: stop.signal });
    assert.equal((await ticks.next()).done, false);
    const waiting = ticks.next();
    const stoppedAt = performance.now();
    stop.abort();
    assert.equal((await waiting).done, true);
    assert.ok(performance.now() - stoppedAt < 1000, "not after the 60 s interval");

    const during = new AbortController();
    const { fake: other, config: again } = setup(60);
    other.beforeNext("create", "endpointslices", () => during.abort());
    const running = syncEvery(again, other.connections(), { installation: "default", signal: during.signal });
    const tick = await running.next();
    assert.equal(tick.done, false);
    assert.equal(tick.done === false && tick.value.report.targets[0]!.status, "synced", "the run under way wrote what it decided");
    assert.equal((await running.next()).done, true);
  });
});
