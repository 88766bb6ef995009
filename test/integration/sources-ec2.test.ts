// The EC2 source against moto's server, through the whole pipeline into a real kube-apiserver, as the
// syncer's least-privilege user. Instances whose addresses are probed live in a moto VPC inside the test
// network (198.18.30.0/24, fd00:198:18:30::/64), where real backends answer; the others are synced with no check.
//
// Cases: tag filters sent to the server, stopped and terminated left out, zone and hostname; more instances
// than one page; IPv6 (primary, all, a chosen interface); public IPv4; several regions; a role with an
// external id in another account, assumed once per client; a port tag (own slices and subsets, probed
// there, a resync writes nothing); every call, STS's included, names the release in its User-Agent; draining instances published terminating (a made-up answer: moto never
// shows stopping or shutting-down).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  AttachNetworkInterfaceCommand,
  CreateNetworkInterfaceCommand,
  CreateSubnetCommand,
  CreateVpcCommand,
  DescribeInstancesCommand,
  EC2Client,
  RunInstancesCommand,
  StopInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
} from "@aws-sdk/client-ec2";
import { fromTemporaryCredentials } from "@aws-sdk/credential-providers";
import type { AwsCredentialIdentity } from "@smithy/types";
import { mockClient } from "aws-sdk-client-mock";
import pLimit from "p-limit";
import { createTestNetwork, type BackendFleet, type TestNetwork } from "../../infra/netns/test-network.ts";
import { startAwsProxy, type AwsProxy } from "../harness/aws-proxy.ts";
import { startTestCluster, type TestCluster } from "../harness/cluster.ts";
import { VERSION } from "../../functions/version.ts";
import { startMoto, type Moto } from "../harness/moto.ts";
import { targetSyncer, type TargetSyncer } from "../harness/target-sync.ts";

const NAMESPACE = "ees-src-ec2";
const REGION = "eu-west-1";
const AMI = "ami-12c6146b";
const PORT = 2379;
const ROLE_ARN = "arn:aws:iam::111122223333:role/ees-reader";

let cluster: TestCluster;
let network: TestNetwork;
let fleet: BackendFleet;
let moto: Moto;
let proxy: AwsProxy;
let syncer: TargetSyncer;
/** Subnets of a moto VPC inside the test network, by Availability Zone. */
const subnets: Record<string, string> = {};

const ec2 = (region = REGION, credentials?: AwsCredentialIdentity) =>
  new EC2Client({ region, endpoint: moto.endpoint, ...(credentials && { credentials }) });

before(async () => {
  [cluster, moto, network] = await Promise.all([
    startTestCluster([NAMESPACE]),
    startMoto(),
    createTestNetwork({ name: "ees-src-ec2", subnetIndex: 30 }),
  ]);
  proxy = await startAwsProxy(moto.endpoint);
  fleet = await network.startBackends();
  syncer = targetSyncer(cluster, NAMESPACE);
  const vpc = await ec2().send(new CreateVpcCommand({ CidrBlock: "198.18.0.0/16" }));
  for (const [zone, cidr, ipv6] of [["eu-west-1a", "198.18.30.0/25", "fd00:198:18:30::/64"], ["eu-west-1b", "198.18.30.128/25", undefined]] as const) {
    const subnet = await ec2().send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId, CidrBlock: cidr, AvailabilityZone: zone, Ipv6CidrBlock: ipv6 }));
    subnets[zone] = subnet.Subnet!.SubnetId!;
  }
});

after(async () => {
  await fleet?.stop();
  await network?.destroy();
  await proxy?.stop();
  await moto?.stop();
  await cluster?.stop();
});

/** One instance in a reservation of its own (as moto pages by reservation). */
async function launch(options: { tags: Record<string, string>; zone?: keyof typeof subnets | string; address?: string; region?: string; ipv6Count?: number; client?: EC2Client }): Promise<Instance> {
  const { tags, zone, address, region, ipv6Count, client } = options;
  const placed = zone !== undefined && subnets[zone] !== undefined ? { SubnetId: subnets[zone], PrivateIpAddress: address, Ipv6AddressCount: ipv6Count } : {};
  const reply = await (client ?? ec2(region)).send(
    new RunInstancesCommand({
      ImageId: AMI,
      MinCount: 1,
      MaxCount: 1,
      ...placed,
      TagSpecifications: [{ ResourceType: "instance", Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) }],
    }),
  );
  return reply.Instances![0]!;
}

function ec2Target(service: string, ec2Source: Record<string, unknown>, overrides: Record<string, unknown> = {}) {
  return {
    name: service,
    service,
    ports: [{ name: "client", port: PORT }],
    sources: [{ name: "fleet", ec2: { regions: [REGION], endpoint: proxy.endpoint, ...ec2Source } }],
    check: { none: {} },
    ...overrides,
  };
}

describe("EC2 source against moto, into a real API server", () => {
  it("publishes the running instances its tags select, filtered on the server, with zone and hostname; stopped and terminated ones are left out", async () => {
    const addresses = ["198.18.30.10", "198.18.30.11", "198.18.30.140"];
    await network.addAddresses(addresses);
    for (const address of addresses) await fleet.listen(address, PORT, { kind: "tcp" });
    const named = await launch({ tags: { role: "etcd", Name: "etcd-a" }, zone: "eu-west-1a", address: addresses[0] });
    const badName = await launch({ tags: { role: "etcd", Name: "Etcd B" }, zone: "eu-west-1a", address: addresses[1] });
    const other = await launch({ tags: { role: "etcd" }, zone: "eu-west-1b", address: addresses[2] });
    await launch({ tags: { role: "web" }, zone: "eu-west-1a", address: "198.18.30.12" });
    const stopped = await launch({ tags: { role: "etcd" }, zone: "eu-west-1a", address: "198.18.30.13" });
    const terminated = await launch({ tags: { role: "etcd" }, zone: "eu-west-1a", address: "198.18.30.14" });
    await ec2().send(new StopInstancesCommand({ InstanceIds: [stopped.InstanceId!] }));
    await ec2().send(new TerminateInstancesCommand({ InstanceIds: [terminated.InstanceId!] }));
    await syncer.createService("etcd", [{ name: "client", port: PORT }]);
    const target = ec2Target("etcd", { tags: { role: "etcd" } }, { check: { tcp: { timeoutMs: 1000 } } });

    const report = await syncer.syncOk([target]);

    assert.deepEqual(await syncer.published("etcd"), {
      "198.18.30.10": { ready: true, serving: true, terminating: false, ports: `client:${PORT}`, hostname: "etcd-a", zone: "eu-west-1a" },
      "198.18.30.11": { ready: true, serving: true, terminating: false, ports: `client:${PORT}`, hostname: badName.InstanceId, zone: "eu-west-1a" },
      "198.18.30.140": { ready: true, serving: true, terminating: false, ports: `client:${PORT}`, hostname: other.InstanceId, zone: "eu-west-1b" },
    });
    const described = proxy.calls.filter((call) => call.operation === "DescribeInstances").at(-1)!;
    assert.equal(described.params.get("Filter.1.Name"), "tag:role");
    assert.equal(described.params.get("Filter.1.Value.1"), "etcd");
    assert.equal(described.params.get("Filter.2.Name"), "instance-state-name");
    const origins = report.targets[0]!.backends.find((backend) => backend.address === addresses[0])?.origins;
    assert.deepEqual(origins, [`fleet: ${named.InstanceId} in eu-west-1a, running`]);

    await ec2().send(new StopInstancesCommand({ InstanceIds: [named.InstanceId!] }));
    const afterStop = await syncer.syncOk([target]);
    assert.deepEqual(Object.keys(await syncer.published("etcd")), ["198.18.30.11", "198.18.30.140"]);
    assert.deepEqual(afterStop.targets[0]!.changes.find((change) => change.kind === "EndpointSlice")?.endpoints, [{ address: "198.18.30.10", change: "removed" }]);
  });

  it("pages through more instances than one DescribeInstances page holds (1,050 reservations)", async () => {
    const region = "us-east-1";
    const limit = pLimit(8);
    const launched = await Promise.all(Array.from({ length: 1050 }, () => limit(() => launch({ tags: { role: "many" }, region }))));
    // moto hands out its default VPC's addresses at random, and now and then one twice: one endpoint each.
    const addresses = new Set(launched.map((instance) => instance.PrivateIpAddress));
    await syncer.createService("many", [{ name: "client", port: PORT }]);
    const before = proxy.count("DescribeInstances");

    const report = await syncer.syncOk([ec2Target("many", { regions: [region], tags: { role: "many" } })]);

    assert.equal(proxy.count("DescribeInstances") - before, 2, "two pages of at most 1000");
    assert.equal(report.targets[0]!.sources[0]!.found, 1050);
    const sizes = (await syncer.slicesOf("many")).map((slice) => slice.endpoints?.length).sort();
    assert.deepEqual(sizes, [1000, addresses.size - 1000]);
  });

  it("takes the primary IPv6 address, all of them, or those of the interface at a chosen device index", async () => {
    const instance = await launch({ tags: { role: "v6" }, zone: "eu-west-1a", address: "198.18.30.20", ipv6Count: 2 });
    const extra = await ec2().send(new CreateNetworkInterfaceCommand({ SubnetId: subnets["eu-west-1a"], PrivateIpAddress: "198.18.30.21", Ipv6Addresses: [{ Ipv6Address: "fd00:198:18:30::21" }] }));
    await ec2().send(new AttachNetworkInterfaceCommand({ InstanceId: instance.InstanceId, NetworkInterfaceId: extra.NetworkInterface!.NetworkInterfaceId, DeviceIndex: 1 }));
    const described = await ec2().send(new DescribeInstancesCommand({ InstanceIds: [instance.InstanceId!] }));
    const primary = described.Reservations![0]!.Instances![0]!.NetworkInterfaces!.find((item) => item.Attachment?.DeviceIndex === 0)!;
    const primaryIpv6 = primary.Ipv6Addresses!.map((entry) => entry.Ipv6Address!);
    assert.equal(primaryIpv6.length, 2);
    for (const service of ["v6-primary", "v6-all", "v6-eth1", "v4-eth1"]) await syncer.createService(service, [{ name: "client", port: PORT }]);

    await syncer.syncOk([
      ec2Target("v6-primary", { tags: { role: "v6" }, address: "primaryIPv6" }),
      ec2Target("v6-all", { tags: { role: "v6" }, address: "allIPv6" }),
      ec2Target("v6-eth1", { tags: { role: "v6" }, address: "allIPv6", deviceIndex: 1 }),
      ec2Target("v4-eth1", { tags: { role: "v6" }, deviceIndex: 1 }),
    ]);

    assert.deepEqual(Object.keys(await syncer.published("v6-primary")), [primaryIpv6[0]]);
    assert.deepEqual(Object.keys(await syncer.published("v6-all")), [...primaryIpv6, "fd00:198:18:30::21"].sort());
    assert.deepEqual(Object.keys(await syncer.published("v6-eth1")), ["fd00:198:18:30::21"]);
    assert.deepEqual(Object.keys(await syncer.published("v4-eth1")), ["198.18.30.21"]);
    assert.deepEqual((await syncer.slicesOf("v6-all")).map((slice) => slice.addressType), ["IPv6"]);
  });

  it("takes public IPv4 addresses when asked, and reports the instances that have none", async () => {
    // In moto's default VPC instances get a made-up public address: published, never probed (check: none).
    const withPublic = await launch({ tags: { role: "edge" } });
    const withoutPublic = await launch({ tags: { role: "edge" }, zone: "eu-west-1a", address: "198.18.30.30" });
    await syncer.createService("edge", [{ name: "client", port: PORT }]);

    const report = await syncer.syncOk([ec2Target("edge", { tags: { role: "edge" }, address: "publicIPv4" })]);

    assert.deepEqual(Object.keys(await syncer.published("edge")), [withPublic.PublicIpAddress]);
    assert.deepEqual(report.targets[0]!.warnings, [`source fleet: left out ${withoutPublic.InstanceId}: no public IPv4 address`]);
  });

  it("reads several regions into one target, each instance with its own Availability Zone", async () => {
    const west = await launch({ tags: { role: "multi" }, region: "eu-west-1" });
    const east = await launch({ tags: { role: "multi" }, region: "us-west-2" });
    await syncer.createService("multi", [{ name: "client", port: PORT }]);

    await syncer.syncOk([ec2Target("multi", { regions: ["eu-west-1", "us-west-2"], tags: { role: "multi" } })]);

    const published = await syncer.published("multi");
    assert.equal(published[west.PrivateIpAddress!]?.zone, west.Placement?.AvailabilityZone);
    assert.equal(published[east.PrivateIpAddress!]?.zone, east.Placement?.AvailabilityZone);
    assert.match(east.Placement!.AvailabilityZone!, /^us-west-2/);
  });

  it("assumes a role with an external id to read another account's instances, once per client while its credentials last, every call naming the release", async () => {
    // moto keeps each account's resources apart: the assumed role's credentials see account 111122223333.
    const credentials = await fromTemporaryCredentials({ params: { RoleArn: ROLE_ARN, RoleSessionName: "seed" }, clientConfig: { region: REGION, endpoint: moto.endpoint } })();
    const otherAccount = ec2(REGION, credentials);
    const instance = await launch({ tags: { role: "tenant" }, client: otherAccount });
    for (const service of ["tenant", "tenant-own"]) await syncer.createService(service, [{ name: "client", port: PORT }]);
    const role = { arn: ROLE_ARN, externalId: "ees-external-7" };
    const assumedBefore = proxy.count("AssumeRole");
    const callsBefore = proxy.calls.length;

    await syncer.syncOk([ec2Target("tenant", { tags: { role: "tenant" }, role }), ec2Target("tenant-own", { tags: { role: "tenant" } })]);
    await syncer.syncOk([ec2Target("tenant", { tags: { role: "tenant" }, role })]);

    assert.deepEqual(Object.keys(await syncer.published("tenant")), [instance.PrivateIpAddress]);
    assert.deepEqual(await syncer.published("tenant-own"), {}, "our own account has no such instance");
    const calls = proxy.calls.filter((call) => call.operation === "AssumeRole").slice(assumedBefore);
    assert.equal(calls.length, 1, "the second run reuses the cached credentials");
    assert.equal(calls[0]!.params.get("RoleArn"), ROLE_ARN);
    assert.equal(calls[0]!.params.get("ExternalId"), "ees-external-7");
    const made = proxy.calls.slice(callsBefore);
    assert.deepEqual([...new Set(made.map((call) => call.operation))].sort(), ["AssumeRole", "DescribeInstances"]);
    // The SDK puts its own tokens first; ours ends the header.
    for (const call of made) assert.match(call.userAgent ?? "", new RegExp(` external-endpoint-syncer/${VERSION.replaceAll(".", "\\.")}$`), call.operation);
  });

  it("gives each instance the port of its port tag: own slices and Endpoints subsets, probed there, and a resync writes nothing", async () => {
    const instances = [
      { address: "198.18.30.40", port: "8081" },
      { address: "198.18.30.41", port: "8082" },
      { address: "198.18.30.42", port: "8081" },
    ];
    await network.addAddresses(instances.map((instance) => instance.address));
    for (const { address, port } of instances) await fleet.listen(address, Number(port), { kind: "tcp" });
    const ids: Record<string, string | undefined> = {};
    for (const { address, port } of instances) ids[address] = (await launch({ tags: { role: "ports", "ees/port": port }, zone: "eu-west-1a", address })).InstanceId;
    const untagged = await launch({ tags: { role: "ports" }, zone: "eu-west-1a", address: "198.18.30.43" });
    await syncer.createService("ports", [{ name: "client", port: 8080 }]);
    const target = { ...ec2Target("ports", { tags: { role: "ports" }, portTag: "ees/port" }), ports: [{ name: "client", port: 8080 }], check: { tcp: { timeoutMs: 1000 } } };

    const report = await syncer.syncOk([target]);

    const endpoint = (address: string, port: number) => ({ ready: true, serving: true, terminating: false, ports: `client:${port}`, hostname: ids[address], zone: "eu-west-1a" });
    assert.deepEqual(await syncer.published("ports"), {
      "198.18.30.40": endpoint("198.18.30.40", 8081),
      "198.18.30.41": endpoint("198.18.30.41", 8082),
      "198.18.30.42": endpoint("198.18.30.42", 8081),
    });
    assert.deepEqual(report.targets[0]!.backends.map((backend) => [backend.address, backend.port, backend.reason]), [
      ["198.18.30.40", 8081, "Passed"],
      ["198.18.30.41", 8082, "Passed"],
      ["198.18.30.42", 8081, "Passed"],
    ]);
    assert.equal((await syncer.slicesOf("ports")).length, 2, "one slice per port set");
    const subsets = (await syncer.endpointsOf("ports")).subsets ?? [];
    assert.deepEqual(
      subsets.map((subset) => [subset.ports?.map((port) => port.port), subset.addresses?.map((address) => address.ip)]).sort(),
      [[[8081], ["198.18.30.40", "198.18.30.42"]], [[8082], ["198.18.30.41"]]],
    );
    assert.deepEqual(report.targets[0]!.warnings, [`source fleet: left out ${untagged.InstanceId}: no tag "ees/port" to take the port from`]);

    const mark = await cluster.auditMark();
    const again = await syncer.syncOk([target]);
    assert.equal(again.targets[0]!.status, "unchanged");
    assert.deepEqual(await cluster.syncerWritesSince(mark), []);
  });

  it("(made-up EC2 answer: moto never shows stopping or shutting-down) publishes draining instances terminating, serving as their check says, then removes them", async () => {
    const running = "198.18.30.50";
    const stopping = "198.18.30.51";
    const shuttingDown = "198.18.30.52";
    await network.addAddresses([running, stopping, shuttingDown]);
    for (const address of [running, stopping]) await fleet.listen(address, PORT, { kind: "tcp" });
    const instance = (id: string, address: string, state: string): Instance => ({
      InstanceId: id,
      PrivateIpAddress: address,
      State: { Name: state as "running" },
      Placement: { AvailabilityZone: "eu-west-1a" },
      NetworkInterfaces: [],
    });
    const mock = mockClient(EC2Client);
    try {
      mock.on(DescribeInstancesCommand).resolves({
        Reservations: [{ Instances: [instance("i-0run", running, "running"), instance("i-0stop", stopping, "stopping"), instance("i-0gone", shuttingDown, "shutting-down")] }],
      });
      await syncer.createService("drain", [{ name: "client", port: PORT }]);
      const target = ec2Target("drain", { tags: { role: "drain" } }, { check: { tcp: { timeoutMs: 1000 } } });

      const report = await syncer.syncOk([target]);

      const published = await syncer.published("drain");
      const conditions = Object.fromEntries(Object.entries(published).map(([address, endpoint]) => [address, [endpoint.ready, endpoint.serving, endpoint.terminating]]));
      assert.deepEqual(conditions, {
        [running]: [true, true, false],
        [stopping]: [false, true, true],
        [shuttingDown]: [false, false, true],
      });
      const endpoints = await syncer.endpointsOf("drain");
      assert.deepEqual(endpoints.subsets?.[0]?.notReadyAddresses?.map((address) => address.ip), [stopping, shuttingDown]);
      assert.deepEqual(report.targets[0]!.backends.filter((backend) => backend.terminating).map((backend) => backend.address), [stopping, shuttingDown]);

      mock.on(DescribeInstancesCommand).resolves({ Reservations: [{ Instances: [instance("i-0run", running, "running")] }] });
      await syncer.syncOk([target]);
      assert.deepEqual(Object.keys(await syncer.published("drain")), [running]);
    } finally {
      mock.restore();
    }
  });
});
