// Cluster access that comes from AWS, against moto's server: EKS endpoint and CA from DescribeCluster (with
// and without a role to assume), kubeconfigs kept in SSM (SecureString) and Secrets Manager, and the config
// itself read from SSM by the function (refused while its interval is not the schedule's). Syncs go into a
// real API server; secrets never show in errors.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { after, before, describe, it } from "node:test";
import { CreateClusterCommand, EKSClient } from "@aws-sdk/client-eks";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import type { Context } from "aws-lambda";
import { stringify } from "yaml";
import { runSync } from "../../functions/engine/run.ts";
import { ClusterConnections } from "../../functions/kube/client.ts";
import { EksAccess } from "../../functions/kube/eks.ts";
import { selectorlessService, startTestCluster, testConfig, type TestCluster } from "../harness/cluster.ts";
import { startMoto, type Moto } from "../harness/moto.ts";

const REGION = "eu-west-1";
const NAMESPACE = "ees-aws";
let moto: Moto;
let cluster: TestCluster;
let kubeconfigText: string;

before(async () => {
  [moto, cluster] = await Promise.all([startMoto(), startTestCluster([NAMESPACE])]);
  // The SDK's own setting: every client in this process talks to moto.
  process.env.AWS_ENDPOINT_URL = moto.endpoint;
  process.env.AWS_REGION = REGION;
  kubeconfigText = await readFile(cluster.kubeconfig, "utf8");
  await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, "db", [{ name: "pg", port: 5432 }]) });
  // Every config below syncs `target`, in the entry "stored", whichever way that entry reaches this cluster.
  await cluster.grant(testConfig({ clusters: [{ name: "stored" }], targets: [target] }), "stored");
});
after(async () => {
  delete process.env.AWS_ENDPOINT_URL;
  await Promise.all([moto?.stop(), cluster?.stop()]);
});

// Never probed (check: none).
const target = { name: "db", cluster: "stored", namespace: NAMESPACE, service: "db", ports: [{ name: "pg", port: 5432 }], sources: [{ static: [{ address: "192.0.2.50" }] }], check: { none: {} } };

describe("clusters reached through AWS", () => {
  it("takes an EKS cluster's endpoint and CA from DescribeCluster, and signs tokens as the assumed role", async () => {
    const eks = new EKSClient({ region: REGION });
    const created = await eks.send(
      new CreateClusterCommand({ name: "prod", roleArn: "arn:aws:iam::123456789012:role/eks", resourcesVpcConfig: { subnetIds: ["subnet-1"] } }),
    );
    const access = new EksAccess({ name: "prod", region: REGION });
    assert.deepEqual(await access.endpoint(), { server: created.cluster?.endpoint, caData: created.cluster?.certificateAuthority?.data });
    const direct = await access.token();
    assert.equal(direct.renewed, true);
    assert.deepEqual(await access.token(), { value: direct.value, renewed: false }, "reused until it ages");

    const viaRole = await new EksAccess({ name: "prod", region: REGION, roleArn: "arn:aws:iam::210987654321:role/syncer" }).token();
    const credential = new URL(Buffer.from(viaRole.value.slice("k8s-aws-v1.".length), "base64url").toString()).searchParams.get("X-Amz-Credential");
    assert.notEqual(credential?.split("/")[0], "testing", "signed with the role's temporary keys, not the caller's");
  });

  for (const store of ["parameter", "secret"] as const) {
    it(`syncs a cluster whose kubeconfig is kept in ${store === "parameter" ? "an SSM SecureString parameter" : "Secrets Manager"}`, async () => {
      const where =
        store === "parameter"
          ? { kubeconfigParameter: { name: "/ees/kubeconfig", region: REGION } }
          : { kubeconfigSecret: { id: "ees/kubeconfig", region: REGION } };
      if (store === "parameter") await new SSMClient({}).send(new PutParameterCommand({ Name: "/ees/kubeconfig", Type: "SecureString", Value: kubeconfigText }));
      else await new SecretsManagerClient({}).send(new CreateSecretCommand({ Name: "ees/kubeconfig", SecretString: kubeconfigText }));
      const config = testConfig({ clusters: [{ name: "stored", ...where }], targets: [target] });
      const report = await runSync(config, new ClusterConnections(config.clusters));
      assert.equal(report.ok, true, report.targets[0]?.error);
    });
  }

  it("names where a broken kubeconfig came from, and never quotes it", async () => {
    const secret = "token: hunter2-do-not-print";
    await new SSMClient({}).send(new PutParameterCommand({ Name: "/ees/broken", Type: "SecureString", Value: `[${secret}` }));
    const config = testConfig({
      clusters: [{ name: "stored", kubeconfigParameter: { name: "/ees/broken", region: REGION } }, { name: "missing", kubeconfigParameter: { name: "/ees/nothing", region: REGION } }],
      targets: [target, { ...target, name: "db2", cluster: "missing" }],
    });
    const report = await runSync(config, new ClusterConnections(config.clusters));
    const [broken, missing] = report.targets;
    assert.match(broken!.error!, /the kubeconfig from SSM parameter \/ees\/broken cannot be used: not valid YAML: line 1, column \d+/);
    assert.match(missing!.error!, /cannot read the kubeconfig from SSM parameter \/ees\/nothing: ParameterNotFound/);
    assert.equal(JSON.stringify(report).includes("hunter2"), false);
  });

  it("runs the scheduled function with its config read from an SSM parameter, once its interval is the schedule's", async () => {
    await new SecretsManagerClient({}).send(new CreateSecretCommand({ Name: "ees/fn-kubeconfig", SecretString: kubeconfigText })).catch(() => undefined);
    const config = { syncIntervalSeconds: 120, clusters: [{ name: "stored", kubeconfigSecret: { id: "ees/fn-kubeconfig", region: REGION } }], targets: [target] };
    await new SSMClient({}).send(new PutParameterCommand({ Name: "/ees/config", Type: "String", Value: stringify(config) }));
    process.env.EES_CONFIG_PARAMETER = "/ees/config";
    // As serverless.yml passes it: the interval of the schedule it derived from the packaged config file.
    process.env.EES_SYNC_INTERVAL_SECONDS = "60";
    try {
      const { handler } = await import("../../functions/sync.ts");
      const context = { awsRequestId: "scheduled-0", functionName: "sync", getRemainingTimeInMillis: () => 60_000 } as Context;
      await assert.rejects(handler({} as never, context), {
        name: "ConfigError",
        message: /^invalid config SSM parameter \/ees\/config:\n {2}- syncIntervalSeconds: expected 60, the interval of the sync function's schedule \(EES_SYNC_INTERVAL_SECONDS, derived from the config file serverless packaged\), not 120: .*, got 120$/,
      });
      process.env.EES_SYNC_INTERVAL_SECONDS = "120";
      const summary = await handler({} as never, { awsRequestId: "scheduled-1", functionName: "sync", getRemainingTimeInMillis: () => 60_000 } as Context);
      assert.equal(summary.ok, true, JSON.stringify(summary));
      assert.deepEqual(summary.targets.map((item) => item.target), ["db"]);
    } finally {
      delete process.env.EES_CONFIG_PARAMETER;
      delete process.env.EES_SYNC_INTERVAL_SECONDS;
    }
  });
});
