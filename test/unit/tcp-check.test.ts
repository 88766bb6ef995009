// The tcp check (health/tcp.ts) against real sockets on loopback: a listening server, a closed port, and a run
// cancelled before and during the connection. Black-holed backends and their Timeout are in
// test/integration/health-checks.test.ts, which has a network namespace to drop packets in.
import assert from "node:assert/strict";
import { createServer, type Server } from "node:net";
import { after, before, describe, it } from "node:test";
import { TcpCheck } from "../../functions/health/tcp.ts";
import type { Backend, Verdict } from "../../functions/model.ts";

let server: Server;
let openPort: number;
let closedPort: number;
const accepted: number[] = [];

before(async () => {
  server = createServer((socket) => {
    accepted.push(Date.now());
    socket.on("error", () => {});
    socket.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  openPort = (server.address() as { port: number }).port;
  // A port that was just free: nothing listens there.
  const spare = createServer();
  await new Promise<void>((resolve) => spare.listen(0, "127.0.0.1", resolve));
  closedPort = (spare.address() as { port: number }).port;
  await new Promise((resolve) => spare.close(resolve));
});

after(() => new Promise((resolve) => server.close(resolve)));

const loopback: Backend = { address: "127.0.0.1", family: "IPv4", sources: ["test"] };
const tcp = (port: number) => new TcpCheck({ port, defaultPort: port, timeoutMs: 2000, connectTimeoutMs: 1000 });

describe("tcp check", () => {
  it("passes when the connection is accepted", async () => {
    const verdict = await tcp(openPort).probe(loopback, new AbortController().signal);
    assert.deepEqual([verdict.status, verdict.reason], ["pass", "Passed"]);
    assert.ok(verdict.latencyMs >= 0 && verdict.latencyMs < 1000);
  });

  it("probes the backend's own port when the check names none", async () => {
    const check = new TcpCheck({ port: undefined, defaultPort: closedPort, timeoutMs: 2000, connectTimeoutMs: 1000 });
    assert.equal((await check.probe({ ...loopback, port: openPort }, new AbortController().signal)).reason, "Passed");
  });

  it("passes a backend that answered in time while the process was too busy to read it, as a starved Lambda is", async () => {
    const check = new TcpCheck({ port: openPort, defaultPort: openPort, timeoutMs: 50, connectTimeoutMs: 50 });
    // From the loop's check phase: the next phase to run is the timers', where the 50 ms timer is due once the
    // connection (opened on the next tick, then accepted by the kernel) has waited 200 ms unread behind busy work.
    const verdict = await new Promise<Verdict>((resolve) =>
      setImmediate(() => {
        void check.probe(loopback, new AbortController().signal).then(resolve);
        process.nextTick(() => {
          const until = performance.now() + 200;
          while (performance.now() < until);
        });
      }),
    );
    assert.deepEqual([verdict.status, verdict.reason], ["pass", "Passed"]);
  });

  it("fails ConnRefused where nothing listens", async () => {
    const verdict = await tcp(closedPort).probe(loopback, new AbortController().signal);
    assert.deepEqual([verdict.status, verdict.reason, verdict.detail], ["fail", "ConnRefused", "ECONNREFUSED"]);
  });

  it("answers a checker error, not a verdict on the backend, when the run is cancelled before or during the probe", async () => {
    const cancelled = new AbortController();
    cancelled.abort();
    const before = await tcp(openPort).probe(loopback, cancelled.signal);
    assert.deepEqual([before.status, before.reason, before.detail], ["unknown", "CheckerError", "run cancelled"]);

    const run = new AbortController();
    const probing = tcp(openPort).probe(loopback, run.signal);
    run.abort();
    const during = await probing;
    assert.deepEqual([during.status, during.reason, during.detail], ["unknown", "CheckerError", "run cancelled"]);
  });
});
