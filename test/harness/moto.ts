// moto's server on a free loopback port: EC2, Route 53 and STS as the AWS SDK sees them, without AWS.
// infra/setup.sh installs it (pip, moto[server]). Each test file starts its own and stops it.
import { spawn } from "node:child_process";
import { createServer } from "node:net";

export interface Moto {
  /** For a source's `endpoint`, and the test's own SDK clients. */
  endpoint: string;
  /** Forgets every resource, as a fresh server would. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 30_000;

/** Any static credentials do for moto; the SDK's default chain finds them here and never asks the instance metadata. */
export function useTestCredentials(): void {
  process.env.AWS_ACCESS_KEY_ID = "testing";
  process.env.AWS_SECRET_ACCESS_KEY = "testing";
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
  process.env.AWS_EC2_METADATA_DISABLED = "true";
}

export async function startMoto(): Promise<Moto> {
  useTestCredentials();
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  // setpriv's parent-death signal stops moto even if the test process is killed. `python3 -m` needs no
  // moto_server script on the PATH (pip puts it where pyenv's shims may not yet point).
  const child = spawn("setpriv", ["--pdeathsig", "KILL", "python3", "-m", "moto.server", "-H", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "ignore", "pipe"] });
  let stderrTail = "";
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderrTail = (stderrTail + chunk).slice(-2_000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };

  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const ready = await fetch(`${endpoint}/moto-api/`).then((response) => response.ok, () => false);
    if (ready) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`moto's server did not start on ${endpoint} (is it installed? infra/setup.sh installs it): ${stderrTail.trim()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    endpoint,
    async reset() {
      const response = await fetch(`${endpoint}/moto-api/reset`, { method: "POST" });
      if (!response.ok) throw new Error(`moto reset failed: HTTP ${response.status}`);
    },
    stop,
  };
}

/** A loopback port that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
