// Every outside call has a deadline, shown against real servers that accept and never answer.
//
// Cases: with AWS_ENDPOINT_URL at a loopback TCP server that accepts every connection and says nothing, SSM
// GetParameter (the config or a kubeconfig kept there), Secrets Manager GetSecretValue, EKS DescribeCluster, and
// the STS AssumeRole of an EKS cluster's role each fail with the SDK's TimeoutError after its 3 attempts of 5 s,
// never hanging; a static hostname whose DNS server (the system resolver's, in a network namespace) never
// answers fails its source within 5 s, naming the host, though the resolver itself would wait 30 s.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { createServer, type Server, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { after, before, describe, it } from "node:test";
import { createTestNetwork, type TestNetwork } from "../../infra/netns/test-network.ts";
import { AWS_REQUEST_TIMEOUT_MS } from "../../functions/aws/request-handler.ts";
import { readParameter, readSecret } from "../../functions/aws/stored-text.ts";
import { EksAccess } from "../../functions/kube/eks.ts";
import { LOOKUP_TIMEOUT_MS } from "../../functions/sources/static.ts";

const REGION = "eu-west-1";
/** The SDK's default: a request that timed out is tried twice more. */
const ATTEMPTS = 3;

describe("AWS calls against an endpoint that never answers", () => {
  let server: Server;
  const connections: Socket[] = [];
  const saved = { ...process.env };

  before(async () => {
    server = createServer((socket) => connections.push(socket));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    process.env.AWS_ENDPOINT_URL = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing", AWS_EC2_METADATA_DISABLED: "true" });
    delete process.env.AWS_SESSION_TOKEN;
    delete process.env.AWS_PROFILE;
    delete process.env.AWS_MAX_ATTEMPTS;
  });

  after(async () => {
    process.env = saved;
    for (const socket of connections) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  });

  const calls: [string, () => Promise<unknown>][] = [
    ["SSM GetParameter", () => readParameter("/ees/config", REGION)],
    ["Secrets Manager GetSecretValue", () => readSecret("ees/kubeconfig", REGION)],
    ["EKS DescribeCluster", () => new EksAccess({ name: "prod", region: REGION }).endpoint()],
    ["STS AssumeRole for an EKS cluster's role", () => new EksAccess({ name: "prod", region: REGION, roleArn: "arn:aws:iam::210987654321:role/syncer" }).token()],
  ];

  it(`gives up on each call after ${ATTEMPTS} attempts of ${AWS_REQUEST_TIMEOUT_MS} ms`, async () => {
    const results = await Promise.all(
      calls.map(async ([name, call]) => {
        const started = performance.now();
        const error = await call().then(() => undefined, (caught: Error & { $metadata?: { attempts?: number } }) => caught);
        return { name, error, tookMs: performance.now() - started };
      }),
    );
    for (const { name, error, tookMs } of results) {
      assert.ok(error, `${name} answered`);
      assert.equal(error.name, "TimeoutError", `${name}: ${error.message}`);
      assert.match(error.message, new RegExp(`${AWS_REQUEST_TIMEOUT_MS} ms requestTimeout`), name);
      // Each attempt waits its whole limit; the SDK's back-off between them adds at most seconds, never minutes.
      assert.ok(tookMs >= ATTEMPTS * AWS_REQUEST_TIMEOUT_MS - 100, `${name} gave up early, after ${Math.round(tookMs)} ms`);
      assert.ok(tookMs < ATTEMPTS * AWS_REQUEST_TIMEOUT_MS + 10_000, `${name} took ${Math.round(tookMs)} ms`);
    }
    assert.ok(connections.length >= calls.length * ATTEMPTS, `${connections.length} connections`);
  });
});

describe("static hostnames against a DNS server that never answers", () => {
  let network: TestNetwork;
  const etcDir = () => `/etc/netns/${network.name}`;

  before(async () => {
    network = await createTestNetwork({ name: "ees-stall", subnetIndex: 144 });
    // `ip netns exec` mounts this over /etc/resolv.conf: the system resolver asks 127.0.0.1 of the namespace,
    // and would wait 30 s for its answer.
    await mkdir(etcDir(), { recursive: true });
    await writeFile(`${etcDir()}/resolv.conf`, "nameserver 127.0.0.1\noptions timeout:30 attempts:1\n");
  });

  after(async () => {
    if (network) await rm(etcDir(), { recursive: true, force: true });
    await network?.destroy();
  });

  it(`fails the source within ${LOOKUP_TIMEOUT_MS} ms, naming the host`, async () => {
    // In one process in the namespace: a UDP socket on port 53 that takes the queries and never answers,
    // then the source. Killed once it has printed: its exit would wait for the lookup's thread, 30 s.
    const script = `
      import { createSocket } from "node:dgram";
      const { StaticSource } = await import(${JSON.stringify(new URL("../../functions/sources/static.ts", import.meta.url).href)});
      const silent = createSocket("udp4");
      await new Promise((resolve) => silent.bind(53, "127.0.0.1", resolve));
      const started = performance.now();
      const result = await new StaticSource("names", [{ address: "198.18.144.9" }, { hostname: "stalled.ees.test" }]).discover(new AbortController().signal);
      console.log(JSON.stringify({ result, tookMs: performance.now() - started }));
    `;
    // `ip netns exec` execs node, so the child is node itself.
    const child = spawn("ip", ["netns", "exec", network.name, process.execPath, "--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    const [line] = (await once(createInterface({ input: child.stdout! }), "line")) as [string];
    child.kill("SIGKILL");
    const { result, tookMs } = JSON.parse(line) as { result: { status: string; error?: string }; tookMs: number };
    assert.deepEqual(result, { source: "names", status: "failed", error: `cannot resolve stalled.ees.test: no answer within ${LOOKUP_TIMEOUT_MS} ms` });
    assert.ok(tookMs >= LOOKUP_TIMEOUT_MS - 50 && tookMs < LOOKUP_TIMEOUT_MS + 2000, `took ${Math.round(tookMs)} ms`);
  });
});
