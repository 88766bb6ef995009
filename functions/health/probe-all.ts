import pLimit, { type LimitFunction } from "p-limit";
import type { Backend, Verdict } from "../model.ts";
import type { Check } from "./check.ts";
import { notChecked } from "./none.ts";

/** One limit for all probes of a run, so many targets together stay within the checker's means. */
export function probeLimiter(concurrency: number): LimitFunction {
  return pLimit(concurrency);
}

/** How one run probes: the limit all its probes share, its cancellation, and its re-check and ordering hints. */
export interface ProbeRun {
  limit: LimitFunction;
  signal: AbortSignal;
  /** How long after a failure its re-check comes; 0: no re-check. */
  recheckDelayMs: number;
  /** Backends whose last probe timed out, probably to wait out their connect timeout again. */
  timedOutBefore?: ReadonlySet<string>;
}

/**
 * Of the probes in flight, at most this share go to backends that timed out last run, so they start early
 * without leaving the rest of the fleet waiting behind them: a quarter of the slots stays with the others.
 */
const TIMED_OUT_SHARE = 0.75;

/**
 * Probes every backend within the run's limit, in random order: probes that will time out are spread among
 * the rest instead of starting together at the end. Backends that timed out last run start first, as many at
 * once as TIMED_OUT_SHARE allows, so their waits overlap the other probes instead of trailing them. A failure
 * is probed once more `recheckDelayMs` later (HAProxy's fastinter; or later, as the re-check waits for a slot
 * of the same limit) before it counts, except a Timeout: that attempt already waited its whole limit, and
 * trying again would double the run for every black-holed backend.
 *
 * As many workers as the limit allows each take the next backend until none is left, rather than one
 * limited task per backend: at 10,000 backends the tasks, their promises and closures cost more CPU than
 * the probing. Each worker has its own signal, so a probe's abort listener is the only one on it (an
 * AbortSignal walks all of its listeners on every add and remove).
 */
export async function probeAll(backends: Backend[], check: Check, run: ProbeRun): Promise<Map<string, Verdict>> {
  const { limit, signal, recheckDelayMs } = run;
  const verdicts = new Map<string, Verdict>();
  if (check === notChecked) {
    for (const backend of backends) verdicts.set(backend.address, { status: "pass", reason: "NotChecked", latencyMs: 0 });
    return verdicts;
  }
  const timedOutBefore = run.timedOutBefore ?? new Set<string>();
  const suspects = shuffled(backends.filter((backend) => timedOutBefore.has(backend.address)));
  const others = shuffled(backends.filter((backend) => !timedOutBefore.has(backend.address)));
  const workers = Math.min(backends.length, Math.max(1, limit.concurrency));
  const suspectSlots = Math.max(1, Math.floor(workers * TIMED_OUT_SHARE));
  let suspectsInFlight = 0;
  const rechecks: Promise<void>[] = [];
  const recheck = async (backend: Backend) => {
    // Jittered, so re-checks of a batch that failed together do not arrive together.
    await sleep(recheckDelayMs * (0.5 + Math.random()));
    verdicts.set(backend.address, await limit(() => check.probe(backend, signal)));
  };
  const worker = async () => {
    const own = new AbortController();
    const forward = () => own.abort(signal.reason);
    signal.addEventListener("abort", forward, { once: true });
    try {
      for (;;) {
        const suspect = suspects.length > 0 && (suspectsInFlight < suspectSlots || others.length === 0);
        const backend = suspect ? suspects.pop() : others.pop();
        if (!backend) break;
        if (suspect) suspectsInFlight++;
        const verdict = await check.probe(backend, own.signal);
        if (suspect) suspectsInFlight--;
        if (verdict.status !== "fail" || verdict.reason === "Timeout" || recheckDelayMs === 0 || signal.aborted) verdicts.set(backend.address, verdict);
        else rechecks.push(recheck(backend));
      }
    } finally {
      signal.removeEventListener("abort", forward);
    }
  };
  await Promise.all(Array.from({ length: workers }, () => limit(worker)));
  await Promise.all(rechecks);
  return verdicts;
}

function shuffled<T>(items: T[]): T[] {
  const copy = [...items];
  for (let index = copy.length - 1; index > 0; index--) {
    const other = Math.floor(Math.random() * (index + 1));
    [copy[index], copy[other]] = [copy[other]!, copy[index]!];
  }
  return copy;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
