// The deploy default, for real: `sls package` with the default params, then the sync function's zip run as
// Lambda would run it (its bundled handler, the environment the template gives it, a 128 MB function's heap),
// against a world made of what its bundled config names:
// - its EKS cluster by name: created in moto, whose DescribeCluster answer (through test/harness/aws-proxy.ts)
//   names the local API server, which takes the function's signed token through a webhook that does what EKS's
//   aws-iam-authenticator does (test/harness/eks-authenticator.ts): STS GetCallerIdentity (moto), then an
//   access entry mapping the caller to the group `external-endpoint-syncer`, bound to what `rbac` prints;
// - its etcd members: real etcd processes on exactly the addresses it names, in a network namespace of ours,
//   and a hostname member resolved by the system resolver through a DNS server of ours (the function runs in a
//   mount namespace whose /etc/resolv.conf names it);
// - its target's namespace and selector-less Service.
// The first run publishes every member; a second (another cold start) writes nothing.
import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { CreateClusterCommand, EKSClient } from "@aws-sdk/client-eks";
import { fromTemporaryCredentials } from "@aws-sdk/credential-providers";
import { parse, parseAllDocuments } from "yaml";
import { applyRbac } from "../../infra/control-plane/local-cluster.ts";
import { createTestNetwork, type TestNetwork } from "../../infra/netns/test-network.ts";
import { loadConfig } from "../../functions/config/load.ts";
import type { Config } from "../../functions/config/schema.ts";
import { DEFAULT_SUBJECT, type RbacObject } from "../../functions/kube/rbac.ts";
import { ownedSelector, SERVICE_NAME, writerLabels } from "../../functions/registry/labels.ts";
import type { RunSummary } from "../../functions/report/summary.ts";
import { startAwsProxy, type AwsProxy } from "../harness/aws-proxy.ts";
import { selectorlessService, startTestCluster, type TestCluster } from "../harness/cluster.ts";
import { startDnsServer, type TestDnsServer } from "../harness/dns-server.ts";
import { startEksAuthenticator, type EksAuthenticator } from "../harness/eks-authenticator.ts";
import { startEtcdCluster, type EtcdCluster } from "../harness/etcd-cluster.ts";
import { startMoto, type Moto } from "../harness/moto.ts";

const ROOT = join(import.meta.dirname, "../..");
/** The V8 heap limits Lambda's Node.js runtime gives a 128 MB function (as test/bench/coldstart.bench.ts). */
const LAMBDA_128_MB_FLAGS = ["--max-semi-space-size=6", "--max-old-space-size=116"];
/** Whom moto's GetCallerIdentity names for keys IAM does not know: the access entry's principal, unless the config names a role. */
const CALLER_ARN = "arn:aws:sts::123456789012:user/moto";
const CREDENTIALS = { AWS_ACCESS_KEY_ID: "testing", AWS_SECRET_ACCESS_KEY: "testing" };
/** Where the config's hostname members live (our DNS server's answer): from 10.0.0.13, beside the example's static members. */
const hostnameMemberAddress = (index: number) => `10.0.0.${13 + index}`;

interface Run {
  summary: RunSummary;
  /** From the handler's import to its answer: the cold start and the sync, without Node's own boot. */
  handlerMs: number;
  /** The whole process, from spawn to exit. */
  processMs: number;
  peakRssMb: number;
}

let work: string;
let bundle: string;
let environment: Record<string, string>;
let configFile: string;
let config: Config;
let moto: Moto;
let proxy: AwsProxy;
let authenticator: EksAuthenticator;
let cluster: TestCluster;
let network: TestNetwork;
let etcd: EtcdCluster;
let dns: TestDnsServer;
let resolvConf: string;
let members: { address: string; hostname?: string }[];

before(async () => {
  work = await mkdtemp(join(tmpdir(), "ees-packaged-default-"));
  const defaults = (parse(await readFile(join(ROOT, "serverless.yml"), "utf8")) as { params: { default: { configFile: string } } }).params.default;
  configFile = defaults.configFile;
  // Read from the repository, so the world is built while packaging runs; the zip's copy is checked equal below.
  config = await loadConfig(join(ROOT, configFile));

  const packageSync = async () => {
    const packageDir = join(work, "package");
    const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("AWS_") && name !== "EES_CONFIG"));
    await promisify(execFile)(join(ROOT, "node_modules/.bin/sls"), ["package", "--package", packageDir], {
      cwd: ROOT,
      // Node 22 from node_modules before the machine's, as `npm test` would put it.
      env: { ...env, HOME: work, PATH: `${join(ROOT, "node_modules/.bin")}:${process.env.PATH}` },
    });
    const template = JSON.parse(await readFile(join(packageDir, "cloudformation-template-update-stack.json"), "utf8")) as {
      Resources: Record<string, { Type: string; Properties: { Handler?: string; Environment?: { Variables: Record<string, string> } } }>;
    };
    const sync = Object.values(template.Resources).find((resource) => resource.Type === "AWS::Lambda::Function" && resource.Properties.Handler === "functions/sync.handler");
    environment = sync!.Properties.Environment!.Variables;
    assert.equal(environment.EES_CONFIG, configFile, "the function reads the config it was packaged with");
    bundle = join(work, "sync");
    await promisify(execFile)("unzip", ["-q", join(packageDir, "sync.zip"), "-d", bundle]);
    assert.equal(await readFile(join(bundle, configFile), "utf8"), await readFile(join(ROOT, configFile), "utf8"), "the zip bundles the config as it is");
  };

  const [entry] = config.clusters;
  assert.ok(entry?.eks && config.clusters.length === 1, `the default config reaches one cluster as EKS by name; it has ${JSON.stringify(config.clusters)}`);
  const eks = entry.eks;
  const staticEntries = config.targets.flatMap((target) =>
    target.sources.map((source) => {
      assert.ok("static" in source && source.static, `this test makes static members real; source ${source.name} of ${target.name} is of another kind`);
      return source.static;
    }),
  ).flat();
  const hostnames = staticEntries.filter((member) => member.address === undefined).map((member) => member.hostname!);
  members = [
    ...staticEntries.filter((member) => member.address !== undefined).map((member) => ({ address: member.address! })),
    ...hostnames.map((hostname, index) => ({ address: hostnameMemberAddress(index), hostname })),
  ];
  const addresses = members.map((member) => member.address);
  assert.equal(new Set(addresses).size, addresses.length, `a hostname member's address is one the config names: ${addresses.join(", ")}`);

  const startCluster = async () => {
    moto = await startMoto();
    // In the account the function describes it from: the role's, when the config names one (moto keeps accounts apart).
    const credentials = eks.roleArn ? fromTemporaryCredentials({ params: { RoleArn: eks.roleArn }, clientConfig: { region: eks.region, endpoint: moto.endpoint } }) : undefined;
    await new EKSClient({ region: eks.region, endpoint: moto.endpoint, credentials }).send(
      new CreateClusterCommand({ name: eks.name, roleArn: "arn:aws:iam::123456789012:role/eks", resourcesVpcConfig: { subnetIds: ["subnet-1"] } }),
    );
    proxy = await startAwsProxy(moto.endpoint);
    authenticator = await startEksAuthenticator({ clusterName: eks.name, stsEndpoint: proxy.endpoint, accessEntries: [{ principalArn: eks.roleArn ?? CALLER_ARN, groups: [DEFAULT_SUBJECT.name] }] });
    cluster = await startTestCluster([...new Set(config.targets.map((target) => target.namespace))], { tokenWebhook: authenticator.url });
    const kubeconfig = parse(await readFile(cluster.kubeconfig, "utf8")) as { clusters: { cluster: { "certificate-authority": string } }[] };
    const ca = await readFile(kubeconfig.clusters[0]!.cluster["certificate-authority"]);
    proxy.eksEndpoint({ server: cluster.local.server, caData: ca.toString("base64") });
    for (const target of config.targets) {
      await cluster.admin.core.createNamespacedService({ namespace: target.namespace, body: selectorlessService(target.namespace, target.service, target.ports) });
    }
    // What the docs tell a user to apply: `rbac` for the config and its cluster entry, bound to the group.
    const { bin } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { bin: Record<string, string> };
    const cli = join(ROOT, bin["external-endpoint-syncer"]!);
    const { stdout } = await promisify(execFile)(process.execPath, [cli, "rbac", "--config", configFile, "--cluster", entry.name], { cwd: ROOT });
    await applyRbac(cluster.local.adminKubeconfig, parseAllDocuments(stdout).map((document) => document.toJS() as RbacObject).filter(Boolean));
  };
  const startMembers = async () => {
    network = await createTestNetwork({ name: "ees-pkg-dflt", subnetIndex: 214, privateAddresses: addresses });
    await network.addAddresses(addresses);
    etcd = await startEtcdCluster(network, addresses, join(work, "etcd"), { token: "ees-pkg-default" });
    // resolv.conf takes no port: the server listens on port 53 of the network's host address, which is ours.
    dns = await startDnsServer({ address: network.hostAddress, port: 53 });
    for (const member of members) if (member.hostname) dns.set(member.hostname, { A: [member.address] });
    resolvConf = join(work, "resolv.conf");
    await writeFile(resolvConf, `nameserver ${network.hostAddress}\noptions timeout:1 attempts:2\n`);
  };
  await Promise.all([packageSync(), startCluster(), startMembers()]);
});

after(async () => {
  await Promise.all([cluster?.stop(), etcd?.destroy(), dns?.stop(), authenticator?.stop(), proxy?.stop(), moto?.stop()]);
  await network?.destroy();
  if (work) await rm(work, { recursive: true, force: true });
});

/** One invocation in a new process (a cold start), as Lambda runs it: /var/task is the unzipped bundle. */
async function invokeSync(): Promise<Run> {
  const script = `const started = performance.now();
    const { handler } = await import(${JSON.stringify(pathToFileURL(join(bundle, "functions/sync.mjs")).href)});
    const end = Date.now() + 60_000;
    const summary = await handler({ source: "aws.events", "detail-type": "Scheduled Event" }, {
      functionName: "sync", memoryLimitInMB: "128", awsRequestId: "packaged-default", getRemainingTimeInMillis: () => end - Date.now(),
    });
    process.stdout.write("\\n@@run " + JSON.stringify({ summary, handlerMs: performance.now() - started, peakRssMb: process.resourceUsage().maxRSS / 1024 }) + "\\n");`;
  const env = {
    PATH: process.env.PATH!,
    ...environment,
    ...CREDENTIALS,
    AWS_REGION: config.clusters[0]!.eks!.region,
    AWS_ENDPOINT_URL: proxy.endpoint,
    AWS_EC2_METADATA_DISABLED: "true",
  };
  // A mount namespace of its own, so that only this process's resolver asks our DNS server.
  const args = ["--mount", "--propagation", "private", "sh", "-c", 'mount --bind "$0" /etc/resolv.conf && exec "$@"', resolvConf, process.execPath, ...LAMBDA_128_MB_FLAGS, "--input-type=module", "-e", script];
  const started = performance.now();
  const child = spawn("unshare", args, { cwd: bundle, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
  const processMs = performance.now() - started;
  const line = output.split("\n").find((text) => text.startsWith("@@run "));
  assert.ok(code === 0 && line, `the handler's process exited ${code}:\n${output}`);
  return { ...(JSON.parse(line.slice("@@run ".length)) as Omit<Run, "processMs">), processMs };
}

describe("the packaged default config", () => {
  it("publishes its etcd members (static and by hostname, all real) on its first run, reaching the cluster as EKS by name; a second run writes nothing", async (t) => {
    const [entry] = config.clusters;
    const mark = await cluster.auditMark();
    const first = await invokeSync();
    assert.equal(first.summary.ok, true, `${JSON.stringify(first.summary)}; token reviews: ${JSON.stringify(authenticator.reviews)}`);
    const addresses = members.map((member) => member.address).sort();

    for (const target of config.targets) {
      const line = first.summary.targets.find((item) => item.target === target.name);
      assert.deepEqual([line?.status, line?.ready, line?.notReady], ["synced", addresses.length, 0], JSON.stringify(line));
      const writer = { ownerId: config.ownerId, installation: environment.EES_INSTALLATION!, cluster: entry!.name };
      const labelSelector = ownedSelector(writer);
      const slices = await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: target.namespace, labelSelector });
      const endpoints = slices.items.flatMap((slice) => slice.endpoints ?? []);
      assert.deepEqual(endpoints.flatMap((endpoint) => endpoint.addresses).sort(), addresses);
      assert.ok(endpoints.every((endpoint) => endpoint.conditions?.ready === true), JSON.stringify(endpoints));
      assert.deepEqual(slices.items.map((slice) => slice.metadata?.labels?.[SERVICE_NAME]), slices.items.map(() => target.service));
      const legacy = await cluster.admin.core.readNamespacedEndpoints({ namespace: target.namespace, name: target.service });
      for (const [key, value] of Object.entries(writerLabels(writer))) assert.equal(legacy.metadata?.labels?.[key], value, `the Endpoints' label ${key}`);
      const subsets = legacy.subsets ?? [];
      assert.deepEqual(subsets.flatMap((subset) => subset.addresses ?? []).map((address) => address.ip).sort(), addresses);
      assert.deepEqual(subsets.flatMap((subset) => subset.notReadyAddresses ?? []), []);
    }
    for (const member of members) if (member.hostname) assert.ok(dns.queries(member.hostname, "A") > 0, `${member.hostname} was asked of our DNS server`);

    // Who the API server took the function for: the caller's ARN, through the access entry.
    const reviewedAs = () => new Set(authenticator.reviews.map((review) => ("username" in review ? review.username : `refused: ${review.refused}`)));
    const [syncer, ...others] = reviewedAs();
    assert.deepEqual(others, [], `every token of the function's mapped to one user: ${[...reviewedAs()].join("; ")}`);
    const firstRequests = await cluster.syncerRequestsSince(mark, syncer);
    const firstWrites = await cluster.syncerWritesSince(mark, syncer);
    assert.ok(firstWrites.length > 0, `the first run wrote, as ${syncer}`);
    const aws = { describeCluster: proxy.count("DescribeCluster"), getCallerIdentity: proxy.count("GetCallerIdentity") };
    assert.equal(aws.describeCluster, 1, "one DescribeCluster per cold start");
    assert.ok(aws.getCallerIdentity >= 1, "the API server had the token checked with STS");

    const secondMark = await cluster.auditMark();
    const second = await invokeSync();
    assert.equal(second.summary.ok, true, JSON.stringify(second.summary));
    assert.ok((await cluster.syncerRequestsSince(secondMark, syncer)).length > 0, "the second run read, authenticated as the first was");
    assert.deepEqual([...reviewedAs()], [syncer]);
    assert.deepEqual(await cluster.syncerWritesSince(secondMark, syncer), [], "a second run over its own result writes nothing");

    t.diagnostic(
      `first run of ${configFile} (cold, 128 MB heap flags): handler ${first.handlerMs.toFixed(0)} ms (process ${first.processMs.toFixed(0)} ms), ` +
        `peak RSS ${first.peakRssMb.toFixed(0)} MB, ${firstRequests.length} Kubernetes requests of which ${firstWrites.length} writes ` +
        `(${firstWrites.map((event) => `${event.verb} ${event.objectRef?.resource}`).join(", ")}), ` +
        `DescribeCluster ${aws.describeCluster}, GetCallerIdentity ${aws.getCallerIdentity} (the API server's, via the webhook)`,
    );
    t.diagnostic(
      `second run (cold): handler ${second.handlerMs.toFixed(0)} ms (process ${second.processMs.toFixed(0)} ms), peak RSS ${second.peakRssMb.toFixed(0)} MB, 0 writes; ` +
        `DescribeCluster ${proxy.count("DescribeCluster")}, GetCallerIdentity ${proxy.count("GetCallerIdentity")} in all`,
    );
  });
});
