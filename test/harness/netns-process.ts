// A process inside a test network namespace, gone when the test process goes (setpriv's parent-death
// signal covers a SIGKILLed parent; the exit handler a normal exit).
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";

const STOP_GRACE_MS = 5_000;
const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

export interface NamespaceProcess {
  child: ChildProcess;
  /** SIGTERM, then SIGKILL after a grace period; resolves once it has exited. */
  stop(): Promise<void>;
  running(): boolean;
}

/** Starts `command` in network namespace `namespace`; stdout and stderr go to `logFile`. */
export function spawnInNamespace(namespace: string, command: string, args: string[], logFile: string, stdin: "pipe" | "ignore" = "ignore"): NamespaceProcess {
  const child = spawn("setpriv", ["--pdeathsig", "KILL", "ip", "netns", "exec", namespace, command, ...args], { stdio: [stdin, "pipe", "pipe"] });
  live.add(child);
  const log = createWriteStream(logFile, { flags: "a" });
  child.stdout!.pipe(log, { end: false });
  child.stderr!.pipe(log, { end: false });
  const exited = new Promise<void>((resolve) => child.once("close", () => resolve())).then(() => {
    live.delete(child);
    log.end();
  });
  return {
    child,
    running: () => child.exitCode === null && child.signalCode === null,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}
