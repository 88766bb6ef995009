// `serverless package` as a deployment pipeline runs it: no AWS credentials, no network. One bundle per
// function, IAM statements that are exactly what the config needs (and the dispatch queue: send for sync and
// trigger, take for the worker, in a role of its own), read from the CloudFormation template; the worker's FIFO
// queue and its dead-letter queue; and
// the release (package.json's version) in the bundled handler's log lines and Kubernetes requests; log groups
// that expire, the stage on the functions' environment, and CloudWatch alarms only when asked for (their queries
// at the config's metrics level). The
// schedule comes from the config's syncIntervalSeconds; the default config packages, and a config a Lambda
// could not run (inCluster, files left out of the bundle, an interval of no whole minutes) is refused.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { before, describe, it } from "node:test";
import { promisify } from "node:util";
import { stringify } from "yaml";
import { selectorlessService, startTestCluster } from "../harness/cluster.ts";

const ROOT = join(import.meta.dirname, "../..");
type Template = { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
let template: Template;
let packageDir: string;

/** `sls package` into a new folder, with these --param settings; the CloudFormation template it wrote. */
async function slsPackage(params: string[]): Promise<{ dir: string; template: Template }> {
  const dir = await mkdtemp(join(tmpdir(), "ees-package-"));
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith("AWS_") && !name.startsWith("EES_")));
  await promisify(execFile)(join(ROOT, "node_modules/.bin/sls"), ["package", "--package", dir, "--stage", "prod", ...params.flatMap((param) => ["--param", param])], {
    cwd: ROOT,
    env: { ...env, HOME: dir },
  });
  return { dir, template: JSON.parse(await readFile(join(dir, "cloudformation-template-update-stack.json"), "utf8")) };
}

/** What `sls package` says when it refuses: its exit code is not 0, and this is its error, without the banner. */
async function refusal(params: string[]): Promise<string> {
  const failed = await slsPackage(params).then(
    () => assert.fail("sls package succeeded"),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
  assert.notEqual(failed.code, 0);
  const error = /^Error:\n([^]*)/m.exec(failed.stdout)?.[1];
  assert.ok(error, failed.stdout);
  return error.trim();
}

before(async () => {
  ({ dir: packageDir, template } = await slsPackage(["configFile=test/fixtures/aws-everything.yaml", "configParameter=/ees/config"]));
});

const ofType = (from: Template, type: string) => Object.entries(from.Resources).filter(([, resource]) => resource.Type === type);

const sub = (text: string) => ({ "Fn::Sub": text });

describe("serverless package", () => {
  it("makes one bundle per function, each holding its handler and the config", async () => {
    const zips = (await readdir(packageDir)).filter((name) => name.endsWith(".zip")).sort();
    assert.deepEqual(zips, ["sync.zip", "trigger.zip", "worker.zip"]);
    const functions = Object.values(template.Resources).filter((resource) => resource.Type === "AWS::Lambda::Function");
    assert.deepEqual(functions.map((fn) => [fn.Properties.Handler, fn.Properties.Runtime]).sort(), [
      ["functions/sync.handler", "nodejs22.x"],
      ["functions/trigger.handler", "nodejs22.x"],
      ["functions/worker.handler", "nodejs22.x"],
    ]);
    for (const fn of functions) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, string> }).Variables;
      assert.equal(variables.EES_CONFIG, "test/fixtures/aws-everything.yaml");
      assert.equal(variables.EES_CONFIG_PARAMETER, "/ees/config");
      assert.equal(variables.EES_STAGE, "prod", "the stage dimension of every metric");
      assert.equal(variables.POWERTOOLS_LOG_LEVEL, "INFO");
    }
  });

  it("schedules the sync function every syncIntervalSeconds of the config, and tells the functions that interval and the metrics level", () => {
    const rules = ofType(template, "AWS::Events::Rule").map(([, rule]) => [rule.Properties.ScheduleExpression, rule.Properties.State]);
    assert.deepEqual(rules, [["rate(5 minutes)", "ENABLED"]], "aws-everything.yaml: syncIntervalSeconds: 300");
    for (const [, fn] of ofType(template, "AWS::Lambda::Function")) {
      const variables = (fn.Properties.Environment as { Variables: Record<string, string> }).Variables;
      assert.equal(variables.EES_SYNC_INTERVAL_SECONDS, "300");
      assert.equal(variables.EES_METRICS_LEVEL, "target", "the default");
    }
  });

  it("refuses a config a Lambda could not run, naming each entry, field and value, and what to do instead", async () => {
    const reach = "name it by eks: { name, region }, or keep its kubeconfig in kubeconfigParameter (SSM) or kubeconfigSecret (Secrets Manager)";
    const unbundled = (path: string) => `${join(ROOT, path)}: package.patterns in serverless.yml does not bundle ${path}`;
    const bundleIt = "put the file in the service folder and add it to package.patterns";
    assert.equal(
      await refusal(["configFile=test/fixtures/lambda-refused.yaml"]),
      [
        "test/fixtures/lambda-refused.yaml names what a Lambda cannot use:",
        `  - clusters[0] (prod).inCluster: true: a Lambda runs in no cluster; ${reach} (inCluster is for a syncer running in a pod)`,
        `  - clusters[1] (lab).kubeconfig: ${unbundled("test/fixtures/lab-kubeconfig.yaml")}; ${bundleIt}, or ${reach}`,
        `  - targets[0] (etcd).sources[0].file.path: ${unbundled("test/fixtures/members.txt")}; ${bundleIt}`,
        `  - targets[0] (etcd).check.etcd.caFile: ${unbundled("test/fixtures/etcd-ca.pem")}; ${bundleIt}, or give its PEM text (caPem, certPem, keyPem)`,
      ].join("\n"),
    );
    const interval = await refusal(["configFile=test/fixtures/lambda-interval-90.yaml"]);
    assert.match(
      interval,
      /Cannot resolve variable at "functions\.sync\.events\.0\.schedule\.rate": .*PackageError: test\/fixtures\/lambda-interval-90\.yaml: syncIntervalSeconds: 90: the sync function's schedule \(an EventBridge rate\) runs in whole minutes; set it to a multiple of 60 \(60 or 120\)/,
    );
    assert.doesNotMatch(interval, /\n\s+at /, "no stack trace");
  });

  it("keeps the functions' logs 30 days by default, and makes no alarms unless asked", () => {
    assert.deepEqual(ofType(template, "AWS::Logs::LogGroup").map(([, group]) => [group.Properties.LogGroupName, group.Properties.RetentionInDays]).sort(), [
      ["/aws/lambda/external-endpoint-syncer-prod-sync", 30],
      ["/aws/lambda/external-endpoint-syncer-prod-trigger", 30],
      ["/aws/lambda/external-endpoint-syncer-prod-worker", 30],
    ]);
    assert.deepEqual(ofType(template, "AWS::CloudWatch::Alarm"), []);
  });

  it("packages the default config (an EKS cluster by name, every minute); with alarms: true, alarms on SyncFailed, GuardTrips, the heartbeat, the dead-letter queue and stale shards, over this stage's; retention as set", async () => {
    const { template: alarmed } = await slsPackage(["alarms=true", "heartbeatMinutes=30", "logRetentionInDays=7"]);
    for (const [, fn] of ofType(alarmed, "AWS::Lambda::Function")) {
      assert.equal((fn.Properties.Environment as { Variables: Record<string, string> }).Variables.EES_CONFIG, "infra/examples/eks-etcd.yaml");
    }
    assert.deepEqual(ofType(alarmed, "AWS::Events::Rule").map(([, rule]) => rule.Properties.ScheduleExpression), ["rate(1 minute)"]);
    const alarms = Object.fromEntries(ofType(alarmed, "AWS::CloudWatch::Alarm").map(([id, alarm]) => [id, alarm.Properties]));
    const schema = `FROM SCHEMA("ExternalEndpointSyncer", cluster, service, stage, target) WHERE stage = 'prod'`;
    const query = (properties: Record<string, unknown> | undefined) => (properties?.Metrics as { Expression: string; Period: number }[])[0]!;
    assert.deepEqual(Object.keys(alarms).sort(), ["DeadLetterAlarm", "GuardTripsAlarm", "HeartbeatAlarm", "ShardStaleAlarm", "SyncFailedAlarm"]);
    assert.deepEqual(alarms.DeadLetterAlarm?.Dimensions, [{ Name: "QueueName", Value: { "Fn::GetAtt": ["DispatchDeadLetterQueue", "QueueName"] } }]);
    assert.ok(alarmed.Resources.DispatchDeadLetterQueue, "the queue the alarm watches is in the template");
    assert.equal(query(alarms.ShardStaleAlarm).Expression, `SELECT SUM(ShardStale) FROM SCHEMA("ExternalEndpointSyncer", service, stage) WHERE stage = 'prod'`);
    assert.deepEqual(query(alarms.SyncFailedAlarm), { Id: "q", Expression: `SELECT SUM(SyncFailed) ${schema}`, Period: 300, ReturnData: true });
    assert.equal(alarms.SyncFailedAlarm?.ComparisonOperator, "GreaterThanOrEqualToThreshold");
    assert.equal(alarms.SyncFailedAlarm?.TreatMissingData, "notBreaching");
    assert.equal(query(alarms.GuardTripsAlarm).Expression, `SELECT SUM(GuardTrips) ${schema}`);
    assert.deepEqual(query(alarms.HeartbeatAlarm), { Id: "q", Expression: `SELECT COUNT(SyncDuration) ${schema}`, Period: 1800, ReturnData: true });
    assert.equal(alarms.HeartbeatAlarm?.ComparisonOperator, "LessThanThreshold");
    assert.equal(alarms.HeartbeatAlarm?.TreatMissingData, "breaching", "no data at all is the failure the heartbeat is for");
    assert.equal(alarms.HeartbeatAlarm?.AlarmName, "external-endpoint-syncer-prod-heartbeat");
    assert.deepEqual(ofType(alarmed, "AWS::Logs::LogGroup").map(([, group]) => group.Properties.RetentionInDays), [7, 7, 7]);
  });

  it("with the config's metrics: cluster, the alarms on the sync metrics query the clusters' sets, which have no target dimension", async () => {
    const { template: alarmed } = await slsPackage(["configFile=test/fixtures/lambda-metrics-cluster.yaml", "alarms=true"]);
    const expressions = Object.fromEntries(
      ofType(alarmed, "AWS::CloudWatch::Alarm").flatMap(([id, alarm]) => ((alarm.Properties.Metrics as { Expression: string }[] | undefined) ?? []).map((query) => [id, query.Expression])),
    );
    const schema = `FROM SCHEMA("ExternalEndpointSyncer", cluster, service, stage) WHERE stage = 'prod'`;
    for (const [, fn] of ofType(alarmed, "AWS::Lambda::Function")) {
      assert.equal((fn.Properties.Environment as { Variables: Record<string, string> }).Variables.EES_METRICS_LEVEL, "cluster", "a config from SSM at another level is refused");
    }
    assert.deepEqual(expressions, {
      SyncFailedAlarm: `SELECT SUM(SyncFailed) ${schema}`,
      GuardTripsAlarm: `SELECT SUM(GuardTrips) ${schema}`,
      HeartbeatAlarm: `SELECT COUNT(SyncDuration) ${schema}`,
      ShardStaleAlarm: `SELECT SUM(ShardStale) FROM SCHEMA("ExternalEndpointSyncer", service, stage) WHERE stage = 'prod'`,
    });
  });

  it("grants exactly the AWS actions the config uses, on the resources it names; only sync and trigger may send to the queue, only the worker take from it", () => {
    const configured = [
      { Effect: "Allow", Action: ["eks:DescribeCluster"], Resource: [sub("arn:${AWS::Partition}:eks:eu-west-1:${AWS::AccountId}:cluster/prod")] },
      {
        Effect: "Allow",
        Action: ["ssm:GetParameter"],
        Resource: [
          sub("arn:${AWS::Partition}:ssm:eu-west-1:${AWS::AccountId}:parameter/ees/config"),
          sub("arn:${AWS::Partition}:ssm:eu-west-1:${AWS::AccountId}:parameter/ees/onprem/kubeconfig"),
        ],
      },
      { Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: [sub("arn:${AWS::Partition}:secretsmanager:eu-central-1:${AWS::AccountId}:secret:ees/lab-kubeconfig-??????")] },
      {
        Effect: "Allow",
        Action: ["ec2:DescribeInstances"],
        Resource: ["*"],
        Condition: { StringEquals: { "aws:RequestedRegion": ["eu-central-1", "eu-west-1"] } },
      },
      { Effect: "Allow", Action: ["route53:ListResourceRecordSets"], Resource: [sub("arn:${AWS::Partition}:route53:::hostedzone/Z0123456789ABC")] },
      { Effect: "Allow", Action: ["route53:GetHealthCheckStatus"], Resource: [sub("arn:${AWS::Partition}:route53:::healthcheck/*")] },
      { Effect: "Allow", Action: ["sts:AssumeRole"], Resource: ["arn:aws:iam::111122223333:role/ees-reader", "arn:aws:iam::210987654321:role/ees-partner"] },
    ];
    const queue = { "Fn::GetAtt": ["DispatchQueue", "Arn"] };
    // sync and trigger share the framework's role (the name docs/deploying.md maps in EKS); the worker has its own.
    assert.deepEqual(ofType(template, "AWS::IAM::Role").map(([id, role]) => [id, role.Properties.RoleName]).sort(), [
      ["IamRoleLambdaExecution", { "Fn::Join": ["-", ["external-endpoint-syncer", "prod", { Ref: "AWS::Region" }, "lambdaRole"]] }],
      ["WorkerRole", "external-endpoint-syncer-prod-eu-west-1-workerRole"],
    ]);
    const roleOf = (fn: string) => template.Resources[fn]!.Properties.Role;
    assert.deepEqual([roleOf("SyncLambdaFunction"), roleOf("TriggerLambdaFunction"), roleOf("WorkerLambdaFunction")], [
      { "Fn::GetAtt": ["IamRoleLambdaExecution", "Arn"] },
      { "Fn::GetAtt": ["IamRoleLambdaExecution", "Arn"] },
      { "Fn::Sub": "${WorkerRole.Arn}" },
    ]);
    const expected: [string, unknown[], string][] = [
      // The framework's own log statements cover every function of the stage.
      ["IamRoleLambdaExecution", [...configured, { Effect: "Allow", Action: ["sqs:SendMessage"], Resource: [queue] }], "/aws/lambda/external-endpoint-syncer-prod*"],
      ["WorkerRole", [...configured, { Effect: "Allow", Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], Resource: [queue] }], "/aws/lambda/external-endpoint-syncer-prod-worker"],
    ];
    for (const [role, statements, logGroup] of expected) {
      const policies = template.Resources[role]!.Properties.Policies as { PolicyDocument: { Statement: { Action: string[]; Resource: unknown[] }[] } }[];
      assert.equal(policies.length, 1);
      const granted = policies[0]!.PolicyDocument.Statement;
      const ours = granted.filter((statement) => !statement.Action.every((action) => action.startsWith("logs:")));
      assert.deepEqual(ours, statements, role);
      // Besides ours, only writing to the functions' log groups.
      const logs = granted.filter((statement) => !(ours as unknown[]).includes(statement));
      assert.deepEqual(logs.flatMap((statement) => statement.Action).sort(), ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:TagResource"], role);
      const groups = new Set(logs.flatMap((statement) => statement.Resource).map((resource) => /log-group:([^:]+):/.exec(JSON.stringify(resource))?.[1]));
      assert.deepEqual([...groups], [logGroup], role);
    }
  });

  it("feeds the worker from a FIFO queue: one shard per invocation, partial batch failures, a visibility timeout above the worker's, a dead-letter queue after 3 receives, reserved concurrency", () => {
    const queues = Object.fromEntries(ofType(template, "AWS::SQS::Queue").map(([id, queue]) => [id, queue.Properties]));
    assert.deepEqual(queues, {
      DispatchDeadLetterQueue: { QueueName: "external-endpoint-syncer-prod-dead-letter.fifo", FifoQueue: true, MessageRetentionPeriod: 1_209_600 },
      DispatchQueue: {
        QueueName: "external-endpoint-syncer-prod-shards.fifo",
        FifoQueue: true,
        VisibilityTimeout: 180,
        RedrivePolicy: { deadLetterTargetArn: { "Fn::GetAtt": ["DispatchDeadLetterQueue", "Arn"] }, maxReceiveCount: 3 },
      },
    });
    const worker = template.Resources.WorkerLambdaFunction!.Properties;
    assert.equal(worker.Timeout, 60);
    assert.ok((queues.DispatchQueue!.VisibilityTimeout as number) > (worker.Timeout as number));
    assert.equal(worker.ReservedConcurrentExecutions, 10);
    assert.equal((worker.Environment as { Variables: Record<string, string> }).Variables.EES_MAX_RECEIVE_COUNT, "3");
    const mappings = ofType(template, "AWS::Lambda::EventSourceMapping").map(([, mapping]) => mapping.Properties);
    assert.deepEqual(mappings, [
      {
        BatchSize: 1,
        EventSourceArn: { "Fn::GetAtt": ["DispatchQueue", "Arn"] },
        FunctionName: { "Fn::GetAtt": ["WorkerLambdaFunction", "Arn"] },
        Enabled: true,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
      },
    ]);
    const sync = template.Resources.SyncLambdaFunction!.Properties;
    assert.deepEqual((sync.Environment as { Variables: Record<string, unknown> }).Variables.EES_DISPATCH_QUEUE_URL, { Ref: "DispatchQueue" });
  });

  it("bundles the release: every log line of the sync handler and every Kubernetes request it makes names it", async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")) as { version: string };
    const bundle = join(packageDir, "sync");
    await promisify(execFile)("unzip", ["-q", join(packageDir, "sync.zip"), "-d", bundle]);
    const namespace = "ees-package";
    const cluster = await startTestCluster([namespace]);
    try {
      await cluster.admin.core.createNamespacedService({ namespace, body: selectorlessService(namespace, "db", [{ name: "pg", port: 5432 }]) });
      const configPath = join(cluster.local.dir, "package.yaml");
      await writeFile(
        configPath,
        stringify({
          clusters: [{ name: "here", kubeconfig: cluster.kubeconfig }],
          targets: [{ name: "db", cluster: "here", namespace, service: "db", ports: [{ name: "pg", port: 5432 }], sources: [{ static: [{ address: "192.0.2.40" }] }], check: { none: {} } }],
        }),
      );
      await cluster.grant(configPath);
      const mark = await cluster.auditMark();
      // As Lambda calls it: the bundled module, the handler with a context.
      const script = `const { handler } = await import(${JSON.stringify(pathToFileURL(join(bundle, "functions/sync.mjs")).href)});
        const summary = await handler({}, { awsRequestId: "r-1", functionName: "sync", getRemainingTimeInMillis: () => 60_000 });
        if (!summary.ok) throw new Error(JSON.stringify(summary));`;
      const { stdout, stderr } = await promisify(execFile)(process.execPath, ["--input-type=module", "-e", script], {
        cwd: bundle,
        env: { PATH: process.env.PATH, EES_CONFIG: configPath, EES_INSTALLATION: "ees-package" },
      });
      const logs = `${stdout}${stderr}`.split("\n").filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => !("_aws" in line));
      assert.deepEqual(logs.map((line) => line.message).sort(), ["sync finished", "target synced"]);
      for (const line of logs) assert.equal(line.version, version, JSON.stringify(line));
      const requests = await cluster.syncerRequestsSince(mark);
      assert.ok(requests.some((event) => event.verb === "create"), "the handler wrote");
      assert.deepEqual([...new Set(requests.map((event) => event.userAgent))], [`external-endpoint-syncer/${version}`]);
    } finally {
      await cluster.stop();
    }
  });
});
