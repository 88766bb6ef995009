// Discovery at scale against moto's server: 5,000 EC2 instances and 5,000 Route 53 records, timed, with the
// AWS calls each took counted (and moto's share of the time measured) by a proxy in front of moto. Prints;
// asserts nothing about time. Seeding moto takes about 3 minutes.
//
// moto pages DescribeInstances by reservation, so each instance gets a reservation of its own and pages hold
// 1,000 instances as AWS's do. moto ignores StartRecordIdentifier, so one name cannot have more sets of one type
// than a page holds (300) there; Route 53 itself caps weighted sets of one name and type well below that, so
// the 5,000 records are values in 50 weighted sets, in a zone that holds 5,000 other record sets besides.
import { ChangeResourceRecordSetsCommand, CreateHostedZoneCommand, Route53Client, type Change } from "@aws-sdk/client-route-53";
import { EC2Client, RunInstancesCommand } from "@aws-sdk/client-ec2";
import pLimit from "p-limit";
import type { Source } from "../../functions/sources/source.ts";
import { Ec2Source } from "../../functions/sources/ec2.ts";
import { Route53Source } from "../../functions/sources/route53.ts";
import { startAwsProxy, type AwsProxy } from "../harness/aws-proxy.ts";
import { startMoto } from "../harness/moto.ts";

const INSTANCES = 5000;
const RECORDS = 5000;
const SETS = 50;
const REGION = "eu-west-1";

const moto = await startMoto();
const proxy = await startAwsProxy(moto.endpoint);
try {
  const seedStarted = performance.now();
  await seedInstances();
  const zoneId = await seedRecords();
  console.log(`seeded moto in ${seconds(performance.now() - seedStarted)}`);

  const ec2 = new Ec2Source("fleet", { regions: [REGION], tags: { role: "bench" }, address: "privateIPv4", endpoint: proxy.endpoint, timeoutMs: 60_000 });
  const route53 = new Route53Source("records", { zoneName: "bench.internal", name: "fleet.bench.internal", types: ["A"], healthChecks: false, endpoint: proxy.endpoint, timeoutMs: 60_000 });
  console.log(`zone ${zoneId}`);
  console.log("source                      run    found   time      of it moto   AWS calls");
  for (const [label, source] of [[`ec2 (${INSTANCES} instances)`, ec2], [`route53 (${RECORDS} records)`, route53]] as const) {
    // The first run loads the SDK and makes the client; the second is a warm Lambda's.
    for (const run of ["first", "second"]) await measure(label, run, source, proxy);
  }
} finally {
  await proxy.stop();
  await moto.stop();
}

async function seedInstances(): Promise<void> {
  const client = new EC2Client({ region: REGION, endpoint: moto.endpoint });
  const limit = pLimit(8);
  await Promise.all(
    Array.from({ length: INSTANCES }, () =>
      limit(() =>
        client.send(new RunInstancesCommand({ ImageId: "ami-12c6146b", MinCount: 1, MaxCount: 1, TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "role", Value: "bench" }] }] })),
      ),
    ),
  );
}

async function seedRecords(): Promise<string> {
  const client = new Route53Client({ region: "us-east-1", endpoint: moto.endpoint });
  const zoneId = (await client.send(new CreateHostedZoneCommand({ Name: "bench.internal", CallerReference: "bench" }))).HostedZone!.Id!;
  const perSet = RECORDS / SETS;
  const address = (index: number) => `198.19.${Math.floor(index / 250)}.${(index % 250) + 1}`;
  const sets = Array.from({ length: SETS }, (_, set): Change => ({
      Action: "CREATE",
      ResourceRecordSet: {
        Name: "fleet.bench.internal",
        Type: "A",
        SetIdentifier: `set-${set}`,
        Weight: 1,
        TTL: 60,
        ResourceRecords: Array.from({ length: perSet }, (_, index) => ({ Value: address(set * perSet + index) })),
      },
  }));
  // Neighbours before and after our name in the zone's order.
  const neighbours = Array.from({ length: RECORDS }, (_, index): Change => ({
    Action: "CREATE",
    ResourceRecordSet: { Name: `host-${index}.${index % 2 ? "a" : "z"}.bench.internal`, Type: "A", TTL: 60, ResourceRecords: [{ Value: address(index) }] },
  }));
  // A change batch holds at most 1,000 record values.
  const batches = [...chunks(sets, Math.floor(1000 / perSet)), ...chunks(neighbours, 1000)];
  for (const Changes of batches) await client.send(new ChangeResourceRecordSetsCommand({ HostedZoneId: zoneId, ChangeBatch: { Changes } }));
  return zoneId;
}

async function measure(label: string, run: string, source: Source, counter: AwsProxy): Promise<void> {
  const before = counter.calls.length;
  const started = performance.now();
  const result = await source.discover(new AbortController().signal);
  const elapsed = performance.now() - started;
  if (result.status === "failed") throw new Error(`${label}: ${result.error}`);
  const made = counter.calls.slice(before);
  const calls = new Map<string, number>();
  for (const call of made) calls.set(call.operation, (calls.get(call.operation) ?? 0) + 1);
  const described = [...calls].map(([operation, count]) => `${count} ${operation}`).join(", ");
  // Calls run one after another (pages, then the next step), so moto's times add up.
  const moto = made.reduce((sum, call) => sum + (call.upstreamMs ?? 0), 0);
  console.log(`${label.padEnd(27)} ${run.padEnd(6)} ${String(result.backends.length).padEnd(7)} ${seconds(elapsed).padEnd(9)} ${seconds(moto).padEnd(12)} ${described}`);
}

function chunks<T>(items: T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, index) => items.slice(index * size, (index + 1) * size));
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}
