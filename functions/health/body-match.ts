import { RE2JS } from "re2js";

/**
 * How much matching the main thread may do at once, in body characters times the pattern's program size. RE2's
 * matching time is at most proportional to that product: here at most about 90 ns per unit ((a+)+$ over a's
 * measured worst), so this is a few milliseconds, a timer's ordinary lag. A bigger match goes to the worker.
 */
const MAIN_THREAD_WORK = 50_000;

/** Whether the body matches; undefined when the match did not finish by `deadline` (a performance.now() time). */
export type BodyMatcher = (body: string, deadline: number) => boolean | Promise<boolean | undefined>;

/**
 * A matcher for `pattern` (RE2 syntax, checked when the config was read). A small health answer against a plain
 * pattern is matched at once; a match that could take longer runs off the main thread (body-match-worker.ts).
 */
export function bodyMatcher(pattern: string): BodyMatcher {
  const regex = RE2JS.compile(pattern);
  const size = regex.programSize();
  return (body, deadline) => {
    if (body.length * size <= MAIN_THREAD_WORK) return regex.matcher(body).find();
    return import("./body-match-worker.ts").then(({ matchInWorker }) => matchInWorker(pattern, body, deadline));
  };
}
