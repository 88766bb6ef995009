// The DNS source against a real DNS server on loopback (test/harness/dns-server.ts), through the whole pipeline
// into a real kube-apiserver, as the syncer's least-privilege user. SRV targets whose ports are probed live in
// the test network (198.18.31.0/24), where real backends answer.
//
// Cases: A and AAAA asked afresh at every run; SRV ports (own slices, probed there) with priorities and weights
// in the report; NXDOMAIN and no records are an authoritative empty that removes what was published; an answer
// of only refused addresses is not empty (neverEmpty keeps what was published); SERVFAIL and a timeout fail the
// source, which keeps what it published.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestNetwork, type BackendFleet, type TestNetwork } from "../../infra/netns/test-network.ts";
import { startTestCluster, type TestCluster } from "../harness/cluster.ts";
import { startDnsServer, type TestDnsServer } from "../harness/dns-server.ts";
import { endpointWritesSince, targetSyncer, type TargetSyncer } from "../harness/target-sync.ts";

const NAMESPACE = "ees-src-dns";
const PORT = 2379;

let cluster: TestCluster;
let network: TestNetwork;
let fleet: BackendFleet;
let dns: TestDnsServer;
let syncer: TargetSyncer;

before(async () => {
  [cluster, network, dns] = await Promise.all([startTestCluster([NAMESPACE]), createTestNetwork({ name: "ees-src-dns", subnetIndex: 31 }), startDnsServer()]);
  fleet = await network.startBackends();
  syncer = targetSyncer(cluster, NAMESPACE);
});

after(async () => {
  await fleet?.stop();
  await network?.destroy();
  await dns?.stop();
  await cluster?.stop();
});

function dnsTarget(service: string, source: Record<string, unknown>, overrides: Record<string, unknown> = {}) {
  return {
    name: service,
    service,
    ports: [{ name: "client", port: PORT }],
    sources: [{ name: "names", dns: { server: dns.server, timeoutMs: 300, ...source } }],
    check: { none: {} },
    ...overrides,
  };
}

describe("DNS source against a DNS server on loopback, into a real API server", () => {
  it("publishes a name's A and AAAA records, asked afresh at every run", async () => {
    dns.set("etcd.ees.test", { A: ["198.18.31.10", "198.18.31.11"], AAAA: ["fd00:198:18:31::10"] });
    await syncer.createService("etcd", [{ name: "client", port: PORT }]);
    const target = dnsTarget("etcd", { name: "etcd.ees.test" });

    const first = await syncer.sync([target]);

    assert.equal(first.ok, true, first.targets[0]!.error);
    assert.deepEqual(await syncer.published("etcd"), {
      "198.18.31.10": { ready: true, serving: true, terminating: false, ports: `client:${PORT}`, hostname: "etcd" },
      "198.18.31.11": { ready: true, serving: true, terminating: false, ports: `client:${PORT}`, hostname: "etcd" },
      "fd00:198:18:31::10": { ready: true, serving: true, terminating: false, ports: `client:${PORT}`, hostname: "etcd" },
    });
    assert.deepEqual(first.targets[0]!.backends[0]!.origins, ["names: A etcd.ees.test"]);

    dns.set("etcd.ees.test", { A: ["198.18.31.11", "198.18.31.12"] });
    const asked = dns.queries("etcd.ees.test", "A");
    await syncer.sync([target]);

    assert.equal(dns.queries("etcd.ees.test", "A"), asked + 1, "asked again, nothing cached");
    assert.deepEqual(Object.keys(await syncer.published("etcd")), ["198.18.31.11", "198.18.31.12"]);
  });

  it("takes each SRV target's port: slices per port set, probed at those ports, priority and weight in the report", async () => {
    const targets = { "etcd-0.ees.test": "198.18.31.20", "etcd-1.ees.test": "198.18.31.21" };
    await network.addAddresses(Object.values(targets));
    await fleet.listen("198.18.31.20", 2380, { kind: "tcp" });
    await fleet.listen("198.18.31.21", 2381, { kind: "tcp" });
    for (const [name, address] of Object.entries(targets)) dns.set(name, { A: [address] });
    dns.set("_etcd-server._tcp.ees.test", {
      SRV: [
        { priority: 0, weight: 10, port: 2380, target: "etcd-0.ees.test" },
        { priority: 10, weight: 5, port: 2381, target: "etcd-1.ees.test" },
        { priority: 10, weight: 5, port: 2382, target: "etcd-9.ees.test" },
      ],
    });
    await syncer.createService("peers", [{ name: "client", port: PORT }]);

    const report = await syncer.sync([dnsTarget("peers", { name: "_etcd-server._tcp.ees.test", types: ["SRV"] }, { check: { tcp: { timeoutMs: 1000 } } })]);

    assert.equal(report.ok, true, report.targets[0]!.error);
    assert.deepEqual(await syncer.published("peers"), {
      "198.18.31.20": { ready: true, serving: true, terminating: false, ports: "client:2380", hostname: "etcd-0" },
      "198.18.31.21": { ready: true, serving: true, terminating: false, ports: "client:2381", hostname: "etcd-1" },
    });
    assert.deepEqual(report.targets[0]!.backends.map((backend) => [backend.address, backend.port, backend.reason, backend.origins]), [
      ["198.18.31.20", 2380, "Passed", ["names: SRV _etcd-server._tcp.ees.test → etcd-0.ees.test:2380 priority 0 weight 10"]],
      ["198.18.31.21", 2381, "Passed", ["names: SRV _etcd-server._tcp.ees.test → etcd-1.ees.test:2381 priority 10 weight 5"]],
    ]);
    assert.deepEqual(report.targets[0]!.warnings, ["source names: left out etcd-9.ees.test:2382: an SRV target without A or AAAA records"]);
    const subsets = (await syncer.endpointsOf("peers")).subsets ?? [];
    assert.deepEqual(subsets.map((subset) => [subset.ports?.[0]?.port, subset.addresses?.map((address) => address.ip)]), [[2380, ["198.18.31.20"]], [2381, ["198.18.31.21"]]]);
  });

  it("takes NXDOMAIN, and a name without records of the type, as an authoritative empty: what was published goes", async () => {
    dns.set("gone.ees.test", { A: ["198.18.31.30"] });
    dns.set("bare.ees.test", { A: ["198.18.31.31"] });
    for (const service of ["gone", "bare"]) await syncer.createService(service, [{ name: "client", port: PORT }]);
    const targets = [dnsTarget("gone", { name: "gone.ees.test" }), dnsTarget("bare", { name: "bare.ees.test", types: ["A"] })];
    await syncer.sync(targets);
    assert.equal((await syncer.slicesOf("gone")).length, 1);

    dns.remove("gone.ees.test");
    dns.set("bare.ees.test", { AAAA: ["fd00:198:18:31::31"] });
    const report = await syncer.sync(targets);

    assert.deepEqual(report.targets.map((target) => [target.sources[0]!.status, target.sources[0]!.found]), [["ok", 0], ["ok", 0]]);
    assert.deepEqual(await syncer.slicesOf("gone"), []);
    assert.deepEqual(await syncer.slicesOf("bare"), []);
  });

  it("keeps what it published when the name answers only with addresses we refuse (0.0.0.0, 127.0.0.1): found, not empty (neverEmpty)", async () => {
    dns.set("sinkholed.ees.test", { A: ["198.18.31.35"] });
    await syncer.createService("sinkholed", [{ name: "client", port: PORT }]);
    const target = dnsTarget("sinkholed", { name: "sinkholed.ees.test", types: ["A"] });
    await syncer.sync([target]);

    dns.set("sinkholed.ees.test", { A: ["0.0.0.0", "127.0.0.1"] });
    const report = await syncer.sync([target]);

    const result = report.targets[0]!;
    assert.deepEqual(result.sources.map((source) => [source.status, source.found]), [["ok", 2]]);
    assert.deepEqual(result.rejected.map((rejected) => rejected.address), ["0.0.0.0", "127.0.0.1"]);
    assert.deepEqual(result.guards.map((trip) => trip.guard), ["neverEmpty"]);
    assert.deepEqual(Object.keys(await syncer.published("sinkholed")), ["198.18.31.35"]);
  });

  for (const how of ["servfail", "hang"] as const) {
    it(`fails the source on ${how === "servfail" ? "SERVFAIL" : "a timeout"}, and keeps what it published`, async () => {
      const service = `kept-${how}`;
      const name = `${service}.ees.test`;
      dns.set(name, { A: ["198.18.31.40"] });
      await syncer.createService(service, [{ name: "client", port: PORT }]);
      await syncer.sync([dnsTarget(service, { name })]);
      const mark = await cluster.auditMark();

      dns.misbehave(name, how);
      const report = await syncer.sync([dnsTarget(service, { name })]);

      const source = report.targets[0]!.sources[0]!;
      assert.equal(source.status, "failed");
      // A and AAAA are asked at once: either may fail first.
      assert.match(source.error!, how === "servfail" ? /^dns: A{1,4} query for kept-servfail\.ees\.test failed: ESERVFAIL$/ : /^dns: A{1,4} query for kept-hang\.ees\.test failed: ETIMEOUT$/);
      assert.deepEqual(report.targets[0]!.kept, [{ address: "198.18.31.40", reason: "source failed: names" }]);
      assert.deepEqual(Object.keys(await syncer.published(service)), ["198.18.31.40"]);
      // Only the guard that kept it is written down (the memory ConfigMap, an Event): no endpoint changes.
      assert.deepEqual(await endpointWritesSince(cluster, mark), [], "the endpoint stays as it was");
    });
  }
});
