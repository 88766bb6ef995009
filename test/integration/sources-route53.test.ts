// The Route 53 source against moto's server, through the whole pipeline into a real kube-apiserver, as the
// syncer's least-privilege user. Records whose addresses are probed point into the test network
// (198.18.32.0/24), where real backends answer; the others are synced with no check.
//
// Cases: weighted, multivalue, failover and simple sets of one name (A and AAAA), set ids in the report, other
// names never read; a zone by id or by name, and a name two zones share; more sets than one page, and no
// endless loop where moto sends no NextRecordIdentifier; Route 53 health checks counted (moto's are healthy),
// and an unhealthy one keeps a record not ready although our probe passes (a made-up answer: moto's health
// checks are always healthy).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  ChangeResourceRecordSetsCommand,
  CreateHealthCheckCommand,
  CreateHostedZoneCommand,
  GetHealthCheckStatusCommand,
  ListHostedZonesByNameCommand,
  ListResourceRecordSetsCommand,
  Route53Client,
  type ResourceRecordSet,
} from "@aws-sdk/client-route-53";
import { mockClient } from "aws-sdk-client-mock";
import { createTestNetwork, type BackendFleet, type TestNetwork } from "../../infra/netns/test-network.ts";
import { startAwsProxy, type AwsProxy } from "../harness/aws-proxy.ts";
import { startTestCluster, type TestCluster } from "../harness/cluster.ts";
import { startMoto, type Moto } from "../harness/moto.ts";
import { targetSyncer, type TargetSyncer } from "../harness/target-sync.ts";

const NAMESPACE = "ees-src-r53";
const ZONE = "example.internal";
const PORT = 5432;

let cluster: TestCluster;
let network: TestNetwork;
let fleet: BackendFleet;
let moto: Moto;
let proxy: AwsProxy;
let syncer: TargetSyncer;
let route53: Route53Client;
let zoneId: string;

before(async () => {
  [cluster, moto, network] = await Promise.all([startTestCluster([NAMESPACE]), startMoto(), createTestNetwork({ name: "ees-src-r53", subnetIndex: 32 })]);
  proxy = await startAwsProxy(moto.endpoint);
  fleet = await network.startBackends();
  syncer = targetSyncer(cluster, NAMESPACE);
  route53 = new Route53Client({ region: "us-east-1", endpoint: moto.endpoint });
  zoneId = (await route53.send(new CreateHostedZoneCommand({ Name: ZONE, CallerReference: "ees-zone" }))).HostedZone!.Id!;
});

after(async () => {
  await fleet?.stop();
  await network?.destroy();
  await proxy?.stop();
  await moto?.stop();
  await cluster?.stop();
});

async function createRecords(sets: ResourceRecordSet[], zone = zoneId): Promise<void> {
  // ChangeResourceRecordSets takes at most 1,000 changes a batch.
  for (let start = 0; start < sets.length; start += 500) {
    const Changes = sets.slice(start, start + 500).map((set) => ({ Action: "CREATE" as const, ResourceRecordSet: { TTL: 60, ...set } }));
    await route53.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: zone, ChangeBatch: { Changes } }));
  }
}

const values = (...addresses: string[]) => addresses.map((Value) => ({ Value }));

function route53Target(service: string, source: Record<string, unknown>, overrides: Record<string, unknown> = {}) {
  return {
    name: service,
    service,
    ports: [{ name: "pg", port: PORT }],
    sources: [{ name: "records", route53: { endpoint: proxy.endpoint, ...source } }],
    check: { none: {} },
    ...overrides,
  };
}

describe("Route 53 source against moto, into a real API server", () => {
  it("publishes every set of the name (weighted, multivalue, failover), A and AAAA, with each set id in the report, and reads no other name", async () => {
    await createRecords([
      { Name: `db.${ZONE}`, Type: "A", SetIdentifier: "blue", Weight: 10, ResourceRecords: values("198.18.32.10", "198.18.32.11") },
      { Name: `db.${ZONE}`, Type: "A", SetIdentifier: "green", Weight: 0, ResourceRecords: values("198.18.32.12") },
      { Name: `db.${ZONE}`, Type: "AAAA", SetIdentifier: "v6-a", MultiValueAnswer: true, ResourceRecords: values("fd00:198:18:32::10") },
      { Name: `db.${ZONE}`, Type: "AAAA", SetIdentifier: "v6-b", MultiValueAnswer: true, ResourceRecords: values("fd00:198:18:32::11") },
      { Name: `db.${ZONE}`, Type: "TXT", ResourceRecords: values('"not an address"') },
      { Name: `fo.${ZONE}`, Type: "A", SetIdentifier: "primary", Failover: "PRIMARY", ResourceRecords: values("198.18.32.20") },
      { Name: `fo.${ZONE}`, Type: "A", SetIdentifier: "secondary", Failover: "SECONDARY", ResourceRecords: values("198.18.32.21") },
      { Name: `fo.${ZONE}`, Type: "AAAA", ResourceRecords: values("fd00:198:18:32::20") },
      // Neighbours in the zone's order, which must not leak in.
      { Name: `*.${ZONE}`, Type: "A", ResourceRecords: values("198.18.32.90") },
      { Name: `da.${ZONE}`, Type: "A", ResourceRecords: values("198.18.32.91") },
      { Name: `dc.${ZONE}`, Type: "A", ResourceRecords: values("198.18.32.92") },
      { Name: `x.db.${ZONE}`, Type: "A", ResourceRecords: values("198.18.32.93") },
    ]);
    await syncer.createService("db", [{ name: "pg", port: PORT }]);
    await syncer.createService("fo", [{ name: "pg", port: PORT }]);

    const report = await syncer.syncOk([
      route53Target("db", { zoneId, name: `db.${ZONE}` }),
      route53Target("fo", { zoneName: ZONE, name: `FO.${ZONE}.`, types: ["A"] }),
    ]);

    const db = await syncer.published("db");
    assert.deepEqual(Object.keys(db), ["198.18.32.10", "198.18.32.11", "198.18.32.12", "fd00:198:18:32::10", "fd00:198:18:32::11"]);
    assert.equal(db["198.18.32.10"]?.hostname, "db");
    assert.deepEqual(Object.keys(await syncer.published("fo")), ["198.18.32.20", "198.18.32.21"]);
    const origins = Object.fromEntries(report.targets.flatMap((target) => target.backends.map((backend) => [backend.address, backend.origins])));
    assert.deepEqual(origins["198.18.32.11"], ['records: A set "blue" (weight 10)']);
    assert.deepEqual(origins["198.18.32.12"], ['records: A set "green" (weight 0)']);
    assert.deepEqual(origins["fd00:198:18:32::11"], ['records: AAAA set "v6-b" (multivalue)']);
    assert.deepEqual(origins["198.18.32.21"], ['records: A set "secondary" (failover SECONDARY)']);
  });

  it("pages through more sets than one ListResourceRecordSets page holds (300 A and 300 AAAA sets: 2 pages), and stops at the next name", async () => {
    const v4 = Array.from({ length: 300 }, (_, index) => `198.19.${Math.floor(index / 250)}.${(index % 250) + 1}`);
    const v6 = Array.from({ length: 300 }, (_, index) => `fd00:198:19::${(index + 1).toString(16)}`);
    await createRecords([
      ...v4.map((address, index): ResourceRecordSet => ({ Name: `big.${ZONE}`, Type: "A", SetIdentifier: `v4-${index}`, Weight: 1, ResourceRecords: values(address) })),
      ...v6.map((address, index): ResourceRecordSet => ({ Name: `big.${ZONE}`, Type: "AAAA", SetIdentifier: `v6-${index}`, Weight: 1, ResourceRecords: values(address) })),
      { Name: `bigger.${ZONE}`, Type: "A", ResourceRecords: values("198.18.32.94") },
    ]);
    await syncer.createService("big", [{ name: "pg", port: PORT }]);
    const before = proxy.count("ListResourceRecordSets");

    const report = await syncer.syncOk([route53Target("big", { zoneId, name: `big.${ZONE}` })]);

    assert.equal(report.targets[0]!.sources[0]!.found, 600);
    assert.equal(proxy.count("ListResourceRecordSets") - before, 2, "pages of 300, and no third call for the next name");
    assert.deepEqual((await syncer.slicesOf("big")).map((slice) => [slice.addressType, slice.endpoints?.length]).sort(), [["IPv4", 300], ["IPv6", 300]]);
  });

  it("fails, and never loops, when more sets of one name and type than a page holds come without NextRecordIdentifier (as moto sends them)", async () => {
    const addresses = Array.from({ length: 301 }, (_, index) => `198.19.${10 + Math.floor(index / 250)}.${(index % 250) + 1}`);
    await createRecords(addresses.map((address, index) => ({ Name: `deep.${ZONE}`, Type: "A", SetIdentifier: `set-${index}`, Weight: 1, ResourceRecords: values(address) })));
    await syncer.createService("deep", [{ name: "pg", port: PORT }]);

    const report = await syncer.sync([route53Target("deep", { zoneId, name: `deep.${ZONE}` })]);

    assert.match(report.targets[0]!.sources[0]!.error!, /^route53: ListResourceRecordSets of deep\.example\.internal\. A in \S+ did not move on/);
  });

  it("fails a source whose zone name names no zone, or two (public and private): no guessing", async () => {
    await route53.send(new CreateHostedZoneCommand({ Name: "shared.internal", CallerReference: "public" }));
    await route53.send(
      new CreateHostedZoneCommand({ Name: "shared.internal", CallerReference: "private", HostedZoneConfig: { PrivateZone: true }, VPC: { VPCRegion: "eu-west-1", VPCId: "vpc-12345678" } }),
    );
    await syncer.createService("shared", [{ name: "pg", port: PORT }]);
    await syncer.createService("nozone", [{ name: "pg", port: PORT }]);

    const report = await syncer.sync([
      route53Target("shared", { zoneName: "shared.internal", name: "db.shared.internal" }),
      route53Target("nozone", { zoneName: "absent.internal", name: "db.absent.internal" }),
    ]);

    const [shared, nozone] = report.targets.map((target) => target.sources[0]!);
    assert.equal(shared!.status, "failed");
    assert.match(shared!.error!, /^route53: 2 hosted zones are named shared\.internal\. \(\/hostedzone\/\w+, \/hostedzone\/\w+\): give zoneId$/);
    assert.equal(nozone!.error, "route53: no hosted zone named absent.internal.");
  });

  it("asks Route 53's health check of each set once, and publishes records whose checks are healthy ready", async () => {
    await network.addAddresses(["198.18.32.30", "198.18.32.31"]);
    for (const address of ["198.18.32.30", "198.18.32.31"]) await fleet.listen(address, PORT, { kind: "tcp" });
    const check = await route53.send(
      new CreateHealthCheckCommand({ CallerReference: "hc-1", HealthCheckConfig: { Type: "TCP", IPAddress: "198.18.32.30", Port: PORT } }),
    );
    const HealthCheckId = check.HealthCheck!.Id!;
    await createRecords([
      { Name: `hc.${ZONE}`, Type: "A", SetIdentifier: "one", MultiValueAnswer: true, HealthCheckId, ResourceRecords: values("198.18.32.30") },
      { Name: `hc.${ZONE}`, Type: "A", SetIdentifier: "two", MultiValueAnswer: true, HealthCheckId, ResourceRecords: values("198.18.32.31") },
    ]);
    await syncer.createService("hc", [{ name: "pg", port: PORT }]);
    const before = proxy.count("GetHealthCheckStatus");

    await syncer.syncOk([route53Target("hc", { zoneId, name: `hc.${ZONE}`, healthChecks: true }, { check: { tcp: { timeoutMs: 1000 } } })]);

    assert.equal(proxy.count("GetHealthCheckStatus") - before, 1, "one call per distinct health check");
    assert.deepEqual(Object.values(await syncer.published("hc")).map((endpoint) => endpoint.ready), [true, true]);
  });

  it("(made-up Route 53 answers: moto's health checks are always healthy) keeps a record whose health check fails not ready, although our probe passes", async () => {
    const address = "198.18.32.40";
    await network.addAddresses([address, "198.18.32.41"]);
    for (const backend of [address, "198.18.32.41"]) await fleet.listen(backend, PORT, { kind: "tcp" });
    const mock = mockClient(Route53Client);
    try {
      mock.on(ListHostedZonesByNameCommand).resolves({ HostedZones: [{ Id: "/hostedzone/ZMADEUP", Name: `${ZONE}.`, CallerReference: "x" }] });
      mock.on(ListResourceRecordSetsCommand).resolves({
        IsTruncated: false,
        ResourceRecordSets: [
          { Name: `sick.${ZONE}.`, Type: "A", SetIdentifier: "a", MultiValueAnswer: true, HealthCheckId: "hc-sick", ResourceRecords: values(address) },
          { Name: `sick.${ZONE}.`, Type: "A", SetIdentifier: "b", MultiValueAnswer: true, HealthCheckId: "hc-well", ResourceRecords: values("198.18.32.41") },
        ],
      });
      const observation = (status: string) => ({ Region: "us-east-1" as const, IPAddress: "192.0.2.1", StatusReport: { Status: status } });
      mock.on(GetHealthCheckStatusCommand, { HealthCheckId: "hc-sick" }).resolves({
        HealthCheckObservations: [observation("Failure: Connection timed out."), observation("Failure: Connection timed out."), observation("Failure: Connection timed out."), observation("Failure: Connection timed out."), observation("Failure: Connection timed out."), observation("Success: TCP connection established.")],
      });
      mock.on(GetHealthCheckStatusCommand, { HealthCheckId: "hc-well" }).resolves({ HealthCheckObservations: [observation("Success: TCP connection established.")] });
      await syncer.createService("sick", [{ name: "pg", port: PORT }]);

      const report = await syncer.syncOk([route53Target("sick", { zoneName: ZONE, name: `sick.${ZONE}`, healthChecks: true }, { check: { tcp: { timeoutMs: 1000 } } })]);

      assert.deepEqual(Object.fromEntries(Object.entries(await syncer.published("sick")).map(([key, endpoint]) => [key, endpoint.ready])), { [address]: false, "198.18.32.41": true });
      const sick = report.targets[0]!.backends.find((backend) => backend.address === address)!;
      assert.equal(sick.reason, "SourceUnhealthy");
      assert.equal(sick.detail, "Route 53 health check hc-sick: 1 of 6 checkers report healthy (Failure: Connection timed out.)");
    } finally {
      mock.restore();
    }
  });
});
