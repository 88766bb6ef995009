// AWS faults moto cannot make (throttling, 500s, access denied, no answer), injected by a proxy in front of
// moto so the SDK retries them as it would against AWS, then carried through the whole pipeline into a real
// kube-apiserver. Nothing is probed here (check: none): the addresses are moto's made-up ones.
//
// Cases: each fault on EC2's DescribeInstances, Route 53's ListResourceRecordSets and STS's AssumeRole fails
// the source after the SDK's retries (none for access denied), keeps what it published and writes no endpoint;
// an answer with nothing in it is not a failure and removes what was published; one failed source and one
// healthy source in a target: the failed one's endpoints are kept while the other's update; the report names
// the sources that brought each address.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { ChangeResourceRecordSetsCommand, CreateHostedZoneCommand, Route53Client } from "@aws-sdk/client-route-53";
import { EC2Client, RunInstancesCommand, TerminateInstancesCommand } from "@aws-sdk/client-ec2";
import { startAwsProxy, type AwsProxy, type FaultKind } from "../harness/aws-proxy.ts";
import { startTestCluster, type TestCluster } from "../harness/cluster.ts";
import { startMoto, type Moto } from "../harness/moto.ts";
import { endpointWritesSince, targetSyncer, type TargetSyncer } from "../harness/target-sync.ts";

const NAMESPACE = "ees-src-faults";
const REGION = "eu-west-1";
const PORT = 6379;
/** Short, so the SDK's three attempts at a request that gets no answer take seconds, not minutes. */
const TIMEOUT_MS = 500;

let cluster: TestCluster;
let moto: Moto;
let proxy: AwsProxy;
let syncer: TargetSyncer;
let ec2: EC2Client;
let route53: Route53Client;
let zoneId: string;

before(async () => {
  [cluster, moto] = await Promise.all([startTestCluster([NAMESPACE]), startMoto()]);
  proxy = await startAwsProxy(moto.endpoint);
  syncer = targetSyncer(cluster, NAMESPACE);
  ec2 = new EC2Client({ region: REGION, endpoint: moto.endpoint });
  route53 = new Route53Client({ region: "us-east-1", endpoint: moto.endpoint });
  zoneId = (await route53.send(new CreateHostedZoneCommand({ Name: "faults.internal", CallerReference: "faults" }))).HostedZone!.Id!;
});

after(async () => {
  await proxy?.stop();
  await moto?.stop();
  await cluster?.stop();
});

/** Instances tagged role=`role`, each in a reservation of its own; returns their private addresses. */
async function launch(role: string, count: number): Promise<{ ids: string[]; addresses: string[] }> {
  const reply = await ec2.send(
    new RunInstancesCommand({ ImageId: "ami-12c6146b", MinCount: count, MaxCount: count, TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "role", Value: role }] }] }),
  );
  const instances = reply.Instances ?? [];
  return { ids: instances.map((instance) => instance.InstanceId!), addresses: instances.map((instance) => instance.PrivateIpAddress!).sort() };
}

async function setRecords(name: string, addresses: string[]): Promise<void> {
  await route53.send(
    new ChangeResourceRecordSetsCommand({
      HostedZoneId: zoneId,
      ChangeBatch: { Changes: [{ Action: "UPSERT", ResourceRecordSet: { Name: name, Type: "A", TTL: 60, ResourceRecords: addresses.map((Value) => ({ Value })) } }] },
    }),
  );
}

const ec2Source = (role: string, extra: Record<string, unknown> = {}) => ({ name: "fleet", ec2: { regions: [REGION], tags: { role }, endpoint: proxy.endpoint, timeoutMs: TIMEOUT_MS, ...extra } });
const route53Source = (name: string, endpoint = proxy.endpoint) => ({ name: "records", route53: { zoneId, name, types: ["A"], endpoint, timeoutMs: TIMEOUT_MS } });

function target(service: string, sources: Record<string, unknown>[]) {
  return { name: service, service, ports: [{ name: "redis", port: PORT }], sources, check: { none: {} } };
}

const faults: { kind: FaultKind; attempts: number; ec2: RegExp; route53: RegExp; sts: RegExp }[] = [
  {
    kind: "throttle",
    attempts: 3,
    ec2: /^ec2 DescribeInstances in eu-west-1 failed \(HTTP 503, after 3 attempts\): RequestLimitExceeded: Request limit exceeded\.$/,
    route53: /^route53 ListResourceRecordSets of \S+ in \S+ failed \(HTTP 400, after 3 attempts\): Throttling: Rate exceeded$/,
    sts: /^ec2 DescribeInstances in eu-west-1 failed \(HTTP 400, after 3 attempts\): Throttling: Rate exceeded$/,
  },
  {
    kind: "serverError",
    attempts: 3,
    ec2: /^ec2 DescribeInstances in eu-west-1 failed \(HTTP 500, after 3 attempts\): InternalError: An internal error has occurred$/,
    route53: /^route53 ListResourceRecordSets of \S+ in \S+ failed \(HTTP 500, after 3 attempts\): InternalFailure: An internal failure occurred$/,
    sts: /^ec2 DescribeInstances in eu-west-1 failed \(HTTP 500, after 3 attempts\): InternalFailure: An internal failure occurred$/,
  },
  {
    kind: "accessDenied",
    attempts: 1,
    ec2: /^ec2 DescribeInstances in eu-west-1 failed \(HTTP 403\): UnauthorizedOperation: You are not authorized to perform this operation \(DescribeInstances\)\.$/,
    route53: /^route53 ListResourceRecordSets of \S+ in \S+ failed \(HTTP 403\): AccessDenied: User is not authorized to perform: route53:ListResourceRecordSets$/,
    sts: /^ec2 DescribeInstances in eu-west-1 failed \(HTTP 403\): AccessDenied: User is not authorized to perform: sts:AssumeRole$/,
  },
  {
    kind: "hang",
    attempts: 3,
    ec2: /^ec2 DescribeInstances in eu-west-1 failed \(after 3 attempts\): TimeoutError: .*exceeded the configured 500 ms requestTimeout/,
    route53: /^route53 ListResourceRecordSets of \S+ in \S+ failed \(after 3 attempts\): TimeoutError: .*exceeded the configured 500 ms requestTimeout/,
    sts: /^ec2 DescribeInstances in eu-west-1 failed \(after 3 attempts\): TimeoutError: .*exceeded the configured 500 ms requestTimeout/,
  },
];

describe("AWS faults through the whole pipeline into a real API server", () => {
  for (const fault of faults) {
    for (const [kind, operation] of [["ec2", "DescribeInstances"], ["route53", "ListResourceRecordSets"], ["sts", "AssumeRole"]] as const) {
      it(`${fault.kind} on ${operation}: the source fails after ${fault.attempts === 1 ? "one attempt" : "the SDK's 3 attempts"}, keeps what it published, and no endpoint is written`, async () => {
        const service = `${fault.kind.toLowerCase()}-${kind}`;
        const { addresses } = await launch(service, 2);
        await setRecords(`${service}.faults.internal`, addresses);
        await syncer.createService(service, [{ name: "redis", port: PORT }]);
        // A role for each case: a fresh client, whose first call has to assume it.
        const role = { arn: `arn:aws:iam::123456789012:role/${service}` };
        const sources = [kind === "route53" ? route53Source(`${service}.faults.internal`) : ec2Source(service, kind === "sts" ? { role } : {})];
        const first = await syncer.sync([target(service, sources)]);
        assert.equal(first.targets[0]!.sources[0]!.status, "ok", first.targets[0]!.sources[0]!.error);
        assert.deepEqual(Object.keys(await syncer.published(service)), addresses);
        const mark = await cluster.auditMark();
        const calls = proxy.count(operation);

        proxy.fault(fault.kind, [operation]);
        const report = await (async () => {
          try {
            if (kind === "sts") {
              // Cached credentials would hide the fault: a new role's client must assume it now.
              return await syncer.sync([target(service, [ec2Source(service, { role: { arn: `${role.arn}-again` } })])]);
            }
            return await syncer.sync([target(service, sources)]);
          } finally {
            proxy.fault(undefined);
          }
        })();

        const source = report.targets[0]!.sources[0]!;
        assert.equal(source.status, "failed");
        assert.match(source.error!, fault[kind]);
        assert.equal(proxy.count(operation) - calls, fault.attempts, `${operation} attempts`);
        assert.deepEqual(report.targets[0]!.kept.map((kept) => kept.address), addresses);
        assert.deepEqual(Object.keys(await syncer.published(service)), addresses, "the published endpoints are kept");
        // Only the guard that kept them is written down (the memory ConfigMap, an Event): no endpoint changes.
        assert.deepEqual(await endpointWritesSince(cluster, mark), [], "no EndpointSlice or Endpoints written");
      });
    }
  }

  it("an answer with nothing in it is no failure: it removes what was published (EC2 and Route 53)", async () => {
    const { ids, addresses } = await launch("emptied", 2);
    await setRecords("emptied.faults.internal", addresses);
    for (const service of ["emptied-ec2", "emptied-r53"]) await syncer.createService(service, [{ name: "redis", port: PORT }]);
    const targets = [target("emptied-ec2", [ec2Source("emptied")]), target("emptied-r53", [route53Source("emptied.faults.internal")])];
    await syncer.sync(targets);
    assert.equal((await syncer.slicesOf("emptied-ec2")).length, 1);

    await ec2.send(new TerminateInstancesCommand({ InstanceIds: ids }));
    await route53.send(
      new ChangeResourceRecordSetsCommand({
        HostedZoneId: zoneId,
        ChangeBatch: { Changes: [{ Action: "DELETE", ResourceRecordSet: { Name: "emptied.faults.internal", Type: "A", TTL: 60, ResourceRecords: addresses.map((Value) => ({ Value })) } }] },
      }),
    );
    const report = await syncer.sync(targets);

    assert.deepEqual(report.targets.map((item) => [item.sources[0]!.status, item.sources[0]!.found, item.kept.length]), [["ok", 0, 0], ["ok", 0, 0]]);
    assert.deepEqual(await syncer.slicesOf("emptied-ec2"), []);
    assert.deepEqual(await syncer.slicesOf("emptied-r53"), []);
  });

  it("one failed source and one that answers: the failed one's endpoints are kept, the other's update, and the report names each address's sources", async () => {
    const fleet = await launch("mixed", 2);
    const [shared, ec2Only] = fleet.addresses as [string, string];
    // Route 53 names one instance too, and one address of its own.
    await setRecords("mixed.faults.internal", [shared, "192.0.2.10"]);
    await syncer.createService("mixed", [{ name: "redis", port: PORT }]);
    const sources = [ec2Source("mixed"), route53Source("mixed.faults.internal", moto.endpoint)];
    const first = await syncer.sync([target("mixed", sources)]);
    const sourcesOf = Object.fromEntries(first.targets[0]!.backends.map((backend) => [backend.address, backend.sources]));
    assert.deepEqual(sourcesOf, { [shared]: ["fleet", "records"], [ec2Only]: ["fleet"], "192.0.2.10": ["records"] });

    await setRecords("mixed.faults.internal", [shared, "192.0.2.11"]);
    proxy.fault("serverError", ["DescribeInstances"]);
    const report = await syncer.sync([target("mixed", sources)]).finally(() => proxy.fault(undefined));

    assert.deepEqual(report.targets[0]!.sources.map((source) => [source.name, source.status]), [["fleet", "failed"], ["records", "ok"]]);
    assert.deepEqual(report.targets[0]!.kept, [{ address: ec2Only, reason: "source failed: fleet" }]);
    assert.deepEqual(Object.keys(await syncer.published("mixed")), ["192.0.2.11", ...fleet.addresses].sort());
  });
});
