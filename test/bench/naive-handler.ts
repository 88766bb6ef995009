// The naive bundle of issue 8, which test/bench/coldstart.bench.ts builds with esbuild's defaults as
// serverless-esbuild leaves them (the CommonJS main fields first): client-node from its package root, the EC2
// and Route 53 clients and zod, all imported up front, as a handler that does not think about cold starts would.
import { CoreV1Api, DiscoveryV1Api, KubeConfig } from "@kubernetes/client-node";
import { DescribeInstancesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { ListResourceRecordSetsCommand, Route53Client } from "@aws-sdk/client-route-53";
import { z } from "zod";

const eventSchema = z.object({
  namespace: z.string().min(1),
  service: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  zoneId: z.string().optional(),
});

export async function handler(event: unknown) {
  const { namespace, service, zoneId } = eventSchema.parse(event);
  const kubeconfig = new KubeConfig();
  kubeconfig.loadFromDefault();
  const core = kubeconfig.makeApiClient(CoreV1Api);
  const discovery = kubeconfig.makeApiClient(DiscoveryV1Api);
  const [instances, records] = await Promise.all([
    new EC2Client({}).send(new DescribeInstancesCommand({ Filters: [{ Name: "tag:service", Values: [service] }] })),
    zoneId ? new Route53Client({}).send(new ListResourceRecordSetsCommand({ HostedZoneId: zoneId })) : undefined,
  ]);
  return {
    service: await core.readNamespacedService({ namespace, name: service }),
    slices: await discovery.listNamespacedEndpointSlice({ namespace }),
    instances: instances.Reservations?.length ?? 0,
    records: records?.ResourceRecordSets?.length ?? 0,
  };
}

/** What the first EC2 and Route 53 calls set up besides the import: both clients and their credentials. */
export async function firstUse(): Promise<void> {
  const clients = [new EC2Client({ region: "eu-west-1" }), new Route53Client({ region: "us-east-1" })];
  await Promise.all(clients.map((client) => client.config.credentials()));
}
