// The fault soak (test/harness/soak.ts): 300 sync runs against a real API server behind a fault-injecting proxy
// (409 storms, 500 and 503 answers, connections reset before and after the server saw the request, stalls past
// the 10 s deadline, CLI processes killed mid-apply), with a DNS source that SERVFAILs, times out and changes its
// answer, an SRV record whose members move between ports (and so between slices), an EC2 source (moto) that is
// throttled and fails, instances stopped and started, and real backends in a network namespace that flap
// (refused, black-holed, HTTP 503). After every run the invariants hold (foreign objects untouched, guards' floors
// on ready endpoints, nothing pruned that is configured, no duplicates, labels); once the faults stop, the
// published state matches the backends' health within the bound, and a further run writes nothing.
// SOAK_SEED=N replays a schedule; the seed is in the test's name.
import assert from "node:assert/strict";
import { it } from "node:test";
import { formatFigures, runSoak, soakSeed } from "../harness/soak.ts";

const RUNS = 300;
const seed = soakSeed();

it(`keeps every invariant through ${RUNS} runs of faults and converges once they stop (seed ${seed})`, { timeout: 15 * 60_000 }, async (t) => {
  const figures = await runSoak({ runs: RUNS, seed, network: { name: "ees-soak", subnetIndex: 77 }, stalls: 2, killEvery: 25, log: (line) => t.diagnostic(line) });
  for (const line of formatFigures(figures).split("\n")) t.diagnostic(line);

  assert.deepEqual(figures.violations.slice(0, 10), [], `seed ${seed}: ${figures.violations.length} invariant violations`);
  assert.equal(figures.faultRuns, RUNS);
  for (const [kind, count] of Object.entries(figures.kubeFaults)) assert.ok(count > 0, `no ${kind} fault was injected`);
  assert.ok(figures.targetLeftConfig > 0, "the batch target never left the config");
  assert.ok(figures.convergence.converged, `not converged within ${figures.convergence.bound + 5} runs`);
  assert.ok(figures.convergence.runs <= figures.convergence.bound, `converged in ${figures.convergence.runs} runs, bound ${figures.convergence.bound}`);
  assert.equal(figures.idleRunWrites, 0);
});
