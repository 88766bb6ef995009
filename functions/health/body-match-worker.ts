// The body matches too big for the main thread (body-match.ts) run in a worker thread, one at a time, each
// within what is left of its probe's timeout. RE2 is linear, but linear in a 1 MiB body times the pattern's
// size is still seconds for a pattern such as (.*a){20}, and on the main thread those seconds would stall every
// other probe's timers. A match past its deadline ends the worker; the next match starts a new one. The worker
// costs about 20 MB and a few hundred ms to start, so only configs whose matches need it pay for it.
// This module is loaded on first use (a chunk of its own when bundled), and is also the worker's entry.
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { RE2JS } from "re2js";

const WORKER_ROLE = "body-match";

interface Request {
  pattern: string;
  body: string;
}

interface Job extends Request {
  deadline: number;
  settle: (matched: boolean | undefined) => void;
}

if (!isMainThread && workerData === WORKER_ROLE) serveMatches();

/** In the worker: answers each request with whether its pattern matches anywhere in the body. */
function serveMatches(): void {
  const compiled = new Map<string, RE2JS>();
  parentPort!.on("message", ({ pattern, body }: Request) => {
    let regex = compiled.get(pattern);
    if (!regex) compiled.set(pattern, (regex = RE2JS.compile(pattern)));
    parentPort!.postMessage(regex.matcher(body).find());
  });
}

const queue: Job[] = [];
let running: { job: Job; worker: Worker; timer: NodeJS.Timeout } | undefined;
let idle: Worker | undefined;

/**
 * Whether `pattern` (RE2 syntax, checked when the config was read) matches `body`; undefined when the match
 * did not finish by `deadline` (a performance.now() time), counting its wait behind other matches.
 */
export function matchInWorker(pattern: string, body: string, deadline: number): Promise<boolean | undefined> {
  return new Promise((settle) => {
    queue.push({ pattern, body, deadline, settle });
    if (!running) next();
  });
}

function next(): void {
  let job = queue.shift();
  while (job && job.deadline <= performance.now()) {
    job.settle(undefined);
    job = queue.shift();
  }
  if (!job) return;
  const worker = idle ?? startWorker();
  idle = undefined;
  worker.ref();
  const timer = setTimeout(() => {
    // Out of time: the worker may be deep in the match, and ending it is the only way to stop it.
    void worker.terminate();
    done(undefined);
  }, job.deadline - performance.now());
  running = { job, worker, timer };
  worker.postMessage({ pattern: job.pattern, body: job.body } satisfies Request);
}

function done(matched: boolean | undefined, keep?: Worker): void {
  if (!running) return;
  const { job, timer } = running;
  clearTimeout(timer);
  running = undefined;
  if (keep) {
    // An idle worker must not keep the process alive.
    keep.unref();
    idle = keep;
  }
  job.settle(matched);
  next();
}

function startWorker(): Worker {
  // Small heaps: the largest body is 1 MiB, and a Lambda may have 128 MB in all.
  const worker = new Worker(new URL(import.meta.url), { workerData: WORKER_ROLE, resourceLimits: { maxYoungGenerationSizeMb: 2, maxOldGenerationSizeMb: 24 } });
  worker.on("message", (matched: boolean) => {
    if (running?.worker === worker) done(matched, worker);
  });
  // A worker that failed (it could not start, or ran out of memory) answers nothing more: the match is unknown.
  worker.on("error", () => {
    if (running?.worker === worker) done(undefined);
    if (idle === worker) idle = undefined;
  });
  return worker;
}
