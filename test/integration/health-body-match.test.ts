// Body patterns that backtrack for ever in JavaScript's RegExp, against real HTTP servers (in a network
// namespace) that answer the bodies that set them off. The probe finishes within its timeout, and the main
// thread's timers are never held up meanwhile (perf_hooks' event-loop delay).
//
// Cases: (a+)+$ on 27 a's and a '!' (12 s of RegExp) is a quick BodyMismatch; (a|aa)*b on a body of a's the
// same; (.*a){20}$ on 1 MiB of a's, linear in RE2 but seconds of work (so done in the worker), is CheckerError
// at the timeout, with another backend probed meanwhile on time; patterns that match still pass, on the main
// thread and in a worker started after the last one was ended.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { createTestNetwork, type BackendFleet, type TestNetwork } from "../../infra/netns/test-network.ts";
import { buildCheck } from "../../functions/health/build.ts";
import type { Verdict } from "../../functions/model.ts";
import { testConfig } from "../harness/cluster.ts";

const SHORT = "198.18.143.2";
const AS = "198.18.143.3";
const HUGE = "198.18.143.4";
const PLAIN = "198.18.143.5";
const PORT = 8080;
const MIB = 1_048_576;
/** Far above a timer's usual lag on a busy test machine, far below the seconds a blocking match takes. */
const MAX_LOOP_DELAY_MS = 200;

let network: TestNetwork;
let fleet: BackendFleet;

before(async () => {
  network = await createTestNetwork({ name: "ees-body", subnetIndex: 143 });
  await network.addAddresses([SHORT, AS, HUGE, PLAIN]);
  fleet = await network.startBackends();
  await fleet.listen(SHORT, PORT, { body: `${"a".repeat(27)}!` });
  await fleet.listen(AS, PORT, { body: "a".repeat(5000) });
  await fleet.listen(HUGE, PORT, { body: "a".repeat(MIB) });
  await fleet.listen(PLAIN, PORT, { body: "status: green" });
});

after(async () => {
  await network?.destroy();
});

async function probe(check: unknown, address: string): Promise<Verdict> {
  const config = testConfig({
    clusters: [{ name: "c" }],
    targets: [{ name: "t", cluster: "c", namespace: "n", service: "s", ports: [{ port: PORT }], sources: [{ static: [{ address: "192.0.2.1" }] }], check }],
  });
  const built = await buildCheck(config.targets[0]!.check, PORT);
  return built.probe({ address, family: "IPv4", sources: ["test"] }, new AbortController().signal);
}

/** Runs `work` while measuring how late the main thread's timers fire. */
async function withLoopDelay<T>(work: () => Promise<T>): Promise<{ result: T; maxDelayMs: number; tookMs: number }> {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const started = performance.now();
  try {
    const result = await work();
    return { result, maxDelayMs: histogram.max / 1e6, tookMs: performance.now() - started };
  } finally {
    histogram.disable();
  }
}

describe("body patterns cannot block the event loop", () => {
  for (const [pattern, address] of [["(a+)+$", SHORT], ["(a|aa)*b", AS]] as const) {
    it(`${pattern} against a body that makes RegExp backtrack is a prompt BodyMismatch`, async (t) => {
      const { result, maxDelayMs, tookMs } = await withLoopDelay(() => probe({ http: { timeoutMs: 2000, body: { matches: pattern } } }, address));
      t.diagnostic(`probe ${Math.round(tookMs)} ms, event loop held up at most ${Math.round(maxDelayMs)} ms`);
      assert.equal(result.reason, "BodyMismatch", JSON.stringify(result));
      assert.ok(tookMs < 2000, `took ${tookMs} ms`);
      assert.ok(maxDelayMs < MAX_LOOP_DELAY_MS, `event loop held up ${maxDelayMs} ms`);
    });
  }

  it("(.*a){20}$ over 1 MiB stops at the timeout as CheckerError, while another probe runs on time", async (t) => {
    const slow = { http: { timeoutMs: 1500, body: { matches: "(.*a){20}$", readLimitBytes: MIB } } };
    const { result, maxDelayMs, tookMs } = await withLoopDelay(() =>
      Promise.all([probe(slow, HUGE), probe({ http: { timeoutMs: 1000, body: { contains: "green" } } }, PLAIN)]),
    );
    const [huge, plain] = result;
    t.diagnostic(`probes ${Math.round(tookMs)} ms, event loop held up at most ${Math.round(maxDelayMs)} ms`);
    assert.deepEqual([huge.status, huge.reason], ["unknown", "CheckerError"], JSON.stringify(huge));
    assert.match(huge.detail!, /did not finish within 1500 ms/);
    assert.equal(plain.reason, "Passed", JSON.stringify(plain));
    // The timeout, and the time to end the worker: never the seconds the whole match would take.
    assert.ok(tookMs < 2500, `took ${tookMs} ms`);
    assert.ok(maxDelayMs < MAX_LOOP_DELAY_MS, `event loop held up ${maxDelayMs} ms`);
  });

  it("patterns that match pass, a short body's and a 1 MiB body's after a worker was ended", async () => {
    assert.equal((await probe({ http: { body: { matches: "status:\\s*(green|amber)$" } } }, PLAIN)).reason, "Passed");
    assert.equal((await probe({ http: { body: { matches: "^a{27}!$" } } }, SHORT)).reason, "Passed");
    assert.equal((await probe({ http: { timeoutMs: 5000, body: { matches: "^a+$", readLimitBytes: MIB } } }, HUGE)).reason, "Passed");
  });
});
