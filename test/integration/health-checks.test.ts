// Every check kind against real servers in a network namespace, without Kubernetes: a 3-member etcd cluster
// with TLS client auth, a gRPC health server (plaintext and TLS), HTTP backends, and black-holed addresses.
//
// Cases: etcd passes with the client certificate; a stopped member is ConnRefused; a member without quorum
// answers EtcdUnhealthy with etcd's own reason; the same on /health for an etcd without /readyz (v3.5.10);
// tls with the right CA passes, a wrong CA is TLSVerify, and insecureSkipVerify skips the check; https with a body match passes, a wrong body is BodyMismatch, a wrong
// status StatusMismatch; gRPC SERVING passes, NOT_SERVING and an unknown service are NotServing, a closed port
// is ConnRefused, TLS verifies; a black-holed address is Timeout within connectTimeoutMs; a list of checks
// fails on its first failing one; a failing probe is re-checked once, a Timeout is not; what timed out last
// run is probed first; an unreadable CA fails the build with the field and path, and a key's text never shows.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import pLimit from "p-limit";
import { createTestNetwork, type BackendFleet, type TestNetwork } from "../../infra/netns/test-network.ts";
import { buildCheck } from "../../functions/health/build.ts";
import { probeAll } from "../../functions/health/probe-all.ts";
import type { Backend, Verdict } from "../../functions/model.ts";
import { createTestCa, type CertPair } from "../harness/certs.ts";
import { startEtcdCluster, type EtcdCluster } from "../harness/etcd-cluster.ts";
import { startGrpcHealthServer, type GrpcHealthServer } from "../harness/grpc-server.ts";
import { testConfig } from "../harness/cluster.ts";

const ETCD = ["198.18.41.2", "198.18.41.3", "198.18.41.4"];
const OLD_ETCD = ["198.18.41.6", "198.18.41.7", "198.18.41.8"];
const GRPC = "198.18.41.5";
const WEB = "198.18.41.10";
const DARK = "198.18.41.11";
const [GRPC_PORT, GRPC_TLS_PORT, WEB_PORT] = [50051, 50052, 8080];

let network: TestNetwork;
let fleet: BackendFleet;
let etcd: EtcdCluster;
let oldEtcd: EtcdCluster;
let grpcPlain: GrpcHealthServer;
let grpcTls: GrpcHealthServer;
let dir: string;
let wrongCa: string;
let grpcCert: CertPair;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ees-hc-checks-"));
  network = await createTestNetwork({ name: "ees-hc-chk", subnetIndex: 41 });
  await network.addAddresses([...ETCD, ...OLD_ETCD, GRPC, WEB, DARK]);
  fleet = await network.startBackends();
  await fleet.listen(WEB, WEB_PORT, { body: "status: green" });
  await fleet.listen(DARK, WEB_PORT);
  await network.blackhole([DARK]);
  [etcd, oldEtcd] = await Promise.all([
    startEtcdCluster(network, ETCD, path.join(dir, "etcd")),
    startEtcdCluster(network, OLD_ETCD, path.join(dir, "etcd-without-readyz"), { build: "etcd-without-readyz", token: "ees-hc-old-etcd" }),
  ]);
  wrongCa = (await createTestCa(dir, "stranger")).caFile;
  grpcCert = await etcd.ca.issue("grpc", { ips: [GRPC], dnsNames: ["grpc.ees.test"] });
  grpcPlain = await startGrpcHealthServer(network.name, GRPC, GRPC_PORT, dir);
  grpcTls = await startGrpcHealthServer(network.name, GRPC, GRPC_TLS_PORT, dir, grpcCert);
});

after(async () => {
  await grpcPlain?.stop();
  await grpcTls?.stop();
  await etcd?.destroy();
  await oldEtcd?.destroy();
  await network?.destroy();
  await rm(dir, { recursive: true, force: true });
});

const backend = (address: string): Backend => ({ address, family: "IPv4", sources: ["test"] });

/**
 * The check as a target config gives it (through the real validator, so with its defaults). Without re-checks,
 * which the tests below ask of probeAll themselves, so that etcd's 15 s fits what POST /sync may take.
 */
async function checkOf(check: unknown, port = WEB_PORT) {
  const config = testConfig({
    clusters: [{ name: "c" }],
    targets: [{ name: "t", cluster: "c", namespace: "n", service: "s", ports: [{ port }], sources: [{ static: [{ address: "192.0.2.1" }] }], check, recheckDelayMs: 0 }],
  });
  return buildCheck(config.targets[0]!.check, port);
}

async function probe(check: unknown, address: string, port?: number): Promise<Verdict> {
  return (await checkOf(check, port)).probe(backend(address), new AbortController().signal);
}

const etcdTls = () => ({ caFile: etcd.ca.caFile, certFile: etcd.client.certFile, keyFile: etcd.client.keyFile });

describe("etcd check: HTTPS with a client certificate", () => {
  it("passes for every member of a healthy cluster", async () => {
    for (const address of ETCD) assert.deepEqual(pick(await probe({ etcd: etcdTls() }, address, 2379)), { status: "pass", reason: "Passed" });
  });

  it("calls a stopped member ConnRefused, and one without quorum EtcdUnhealthy in etcd's own words", async () => {
    await etcd.stopMember("m2");
    try {
      assert.equal((await probe({ etcd: etcdTls() }, ETCD[1]!, 2379)).reason, "ConnRefused");
      await etcd.stopMember("m3");
      // A linearizable read waits out etcd's own request timeout before /readyz says no.
      const lonely = await probe({ etcd: { ...etcdTls(), timeoutMs: 15_000 } }, ETCD[0]!, 2379);
      assert.equal(lonely.reason, "EtcdUnhealthy", JSON.stringify(lonely));
      assert.match(lonely.detail!, /\[-\]linearizable_read failed/);
    } finally {
      await etcd.startMember("m2");
      await etcd.startMember("m3");
    }
  });
});

describe("etcd check: /health where a member has no /readyz (etcd v3.5.10)", () => {
  const oldEtcdTls = () => ({ caFile: oldEtcd.ca.caFile, certFile: oldEtcd.client.certFile, keyFile: oldEtcd.client.keyFile });

  it("passes every member of a healthy cluster on its /health, after /readyz answers 404", async () => {
    for (const address of OLD_ETCD) {
      const readyz = await probe({ https: { ...oldEtcdTls(), path: "/readyz" } }, address, 2379);
      assert.deepEqual([readyz.reason, readyz.detail], ["StatusMismatch", "status 404"], "this etcd has no /readyz");
      assert.deepEqual(pick(await probe({ etcd: oldEtcdTls() }, address, 2379)), { status: "pass", reason: "Passed" });
    }
  });

  it("calls a member without quorum EtcdUnhealthy with /health's reason", async () => {
    await oldEtcd.stopMember("m2");
    await oldEtcd.stopMember("m3");
    try {
      // Before the member notices it lost its leader, /health's read waits out a timeout of etcd's, and says so.
      const lonely = await probe({ etcd: { ...oldEtcdTls(), timeoutMs: 15_000 } }, OLD_ETCD[0]!, 2379);
      assert.equal(lonely.reason, "EtcdUnhealthy", JSON.stringify(lonely));
      assert.match(lonely.detail!, /^(RAFT NO LEADER|RANGE ERROR:(context deadline exceeded|etcdserver: request timed out))$/);
    } finally {
      await oldEtcd.startMember("m2");
      await oldEtcd.startMember("m3");
    }
  });
});

describe("tls and https checks", () => {
  it("passes a handshake with the right CA and client certificate", async () => {
    assert.equal((await probe({ tls: etcdTls() }, ETCD[0]!, 2379)).reason, "Passed");
  });

  it("calls a certificate from another CA TLSVerify", async () => {
    const verdict = await probe({ tls: { ...etcdTls(), caFile: wrongCa } }, ETCD[0]!, 2379);
    assert.equal(verdict.reason, "TLSVerify", JSON.stringify(verdict));
  });

  it("takes any certificate with insecureSkipVerify", async () => {
    const { certFile, keyFile } = etcdTls();
    assert.equal((await probe({ tls: { certFile, keyFile, insecureSkipVerify: true } }, ETCD[0]!, 2379)).reason, "Passed");
  });

  it("matches etcd's /health body over https, and tells a wrong body and a wrong status apart", async () => {
    const https = { ...etcdTls(), path: "/health" };
    assert.equal((await probe({ https: { ...https, body: { contains: '"health":"true"' } } }, ETCD[0]!, 2379)).reason, "Passed");
    const body = await probe({ https: { ...https, body: { matches: "^never$" } } }, ETCD[0]!, 2379);
    assert.deepEqual(pick(body), { status: "fail", reason: "BodyMismatch" });
    assert.match(body.detail!, /no match for \/\^never\$\/ in the first 65536 bytes/);
    const status = await probe({ https: { ...https, path: "/no-such-path" } }, ETCD[0]!, 2379);
    assert.deepEqual([status.reason, status.detail], ["StatusMismatch", "status 404"]);
  });
});

describe("http check on a hand-written client", () => {
  it("sends method, path and headers, and matches the body", async () => {
    const verdict = await probe({ http: { method: "GET", path: "/healthz", headers: { "X-Probe": "1" }, body: { contains: "green" } } }, WEB);
    assert.equal(verdict.reason, "Passed");
    assert.equal((await probe({ http: { body: { contains: "red" } } }, WEB)).reason, "BodyMismatch");
  });
});

describe("grpc check: grpc.health.v1", () => {
  it("passes while SERVING, and says NotServing when the service is not, or is unknown", async () => {
    assert.equal((await probe({ grpc: {} }, GRPC, GRPC_PORT)).reason, "Passed");
    assert.equal((await probe({ grpc: { service: "db" } }, GRPC, GRPC_PORT)).reason, "Passed");
    await grpcPlain.setStatus("db", "NOT_SERVING");
    try {
      assert.deepEqual(pick(await probe({ grpc: { service: "db" } }, GRPC, GRPC_PORT)), { status: "fail", reason: "NotServing" });
    } finally {
      await grpcPlain.setStatus("db", "SERVING");
    }
    assert.equal((await probe({ grpc: { service: "db" } }, GRPC, GRPC_PORT)).reason, "Passed");
    const unknown = await probe({ grpc: { service: "cache" } }, GRPC, GRPC_PORT);
    assert.deepEqual([unknown.reason, unknown.detail], ["NotServing", "cache: SERVICE_UNKNOWN"]);
  });

  it("calls a port nobody listens on ConnRefused", async () => {
    assert.equal((await probe({ grpc: {} }, GRPC, 50059)).reason, "ConnRefused");
  });

  it("speaks TLS with the CA and serverName given, and refuses a wrong CA", async () => {
    const tls = { caFile: etcd.ca.caFile, serverName: "grpc.ees.test" };
    assert.equal((await probe({ grpc: { tls } }, GRPC, GRPC_TLS_PORT)).reason, "Passed");
    const verdict = await probe({ grpc: { tls: { ...tls, caFile: wrongCa } } }, GRPC, GRPC_TLS_PORT);
    assert.equal(verdict.reason, "TLSVerify", JSON.stringify(verdict));
  });
});

describe("timeouts, lists of checks and re-checks", () => {
  for (const kind of ["tcp", "http", "grpc"] as const) {
    it(`a black-holed address is a ${kind} Timeout within connectTimeoutMs`, async () => {
      const started = performance.now();
      const verdict = await probe({ [kind]: { timeoutMs: 2000, connectTimeoutMs: 400 } }, DARK);
      const took = performance.now() - started;
      assert.equal(verdict.reason, "Timeout", JSON.stringify(verdict));
      assert.ok(took >= 390 && took < 1000, `took ${Math.round(took)} ms`);
    });
  }

  it("a list of checks fails on its first failing one, and says which", async () => {
    const verdict = await probe([{ tcp: {} }, { http: { expectedStatus: [204] } }], WEB);
    assert.deepEqual([verdict.reason, verdict.detail], ["StatusMismatch", "http: status 200"]);
  });

  it("re-checks a failure once before it counts, but not a Timeout", async () => {
    const counted: string[] = [];
    const check = {
      kind: "counting",
      probe: async (candidate: Backend): Promise<Verdict> => {
        counted.push(candidate.address);
        return candidate.address === DARK
          ? { status: "fail", reason: "Timeout", latencyMs: 1 }
          : { status: "fail", reason: "ConnRefused", latencyMs: 1 };
      },
    };
    await probeAll([backend(WEB), backend(DARK)], check, { limit: pLimit(4), signal: new AbortController().signal, recheckDelayMs: 10 });
    assert.deepEqual(counted.sort(), [WEB, WEB, DARK]);
  });

  it("probes first what timed out last run, so its wait does not trail the others", async () => {
    const real = await checkOf({ http: { connectTimeoutMs: 300 } });
    for (let attempt = 0; attempt < 5; attempt++) {
      const started: string[] = [];
      const recording = { kind: real.kind, probe: (candidate: Backend, signal: AbortSignal) => (started.push(candidate.address), real.probe(candidate, signal)) };
      const began = performance.now();
      const verdicts = await probeAll([backend(WEB), backend(DARK)], recording, { limit: pLimit(2), signal: new AbortController().signal, recheckDelayMs: 0, timedOutBefore: new Set([DARK]) });
      assert.deepEqual(started, [DARK, WEB]);
      assert.deepEqual([verdicts.get(DARK)?.reason, verdicts.get(WEB)?.reason], ["Timeout", "Passed"]);
      assert.ok(performance.now() - began < 600, "the two probes ran side by side");
    }
  });
});

describe("TLS material", () => {
  it("fails the build, naming the field and the path, when a CA file cannot be read", async () => {
    await assert.rejects(checkOf({ tls: { caFile: path.join(dir, "missing.crt") } }), {
      name: "TlsMaterialError",
      message: `check.tls.caFile: cannot read ${path.join(dir, "missing.crt")} (ENOENT)`,
    });
  });

  it("never shows a key's text when it cannot be used", async () => {
    const secret = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END PRIVATE KEY-----\n";
    const keyFile = path.join(dir, "broken.key");
    await writeFile(keyFile, secret);
    const error = await checkOf({ https: { certFile: etcd.client.certFile, keyFile } }).then(() => undefined, (caught: Error) => caught);
    assert.ok(error, "a broken key fails the build");
    assert.match(error.message, /^check\.https: the CA, certificate or key cannot be used/);
    assert.equal(error.message.includes("c2VjcmV0"), false);
  });
});

const pick = (verdict: Verdict) => ({ status: verdict.status, reason: verdict.reason });
