// docs/deploying.md, run as a reader would: every ```sh block in order, in one shell whose exported variables
// carry from block to block, in a copy of the repository. AWS is moto's server (AWS_ENDPOINT_URL: the AWS CLI
// and `sls deploy`, `rollback` and `remove`, whose CloudFormation stack moto makes), the EKS cluster is a real
// local API server, and the deployed functions, which moto cannot run, are serverless offline.
//
// Cases: the guide's shell blocks are exactly the ones this file knows, each named by `step=`; the ones marked
// `aws-account` begin with the visible `# needs a real AWS account` and are exactly REAL_ACCOUNT; every other
// block runs and exits 0; the guide's
// RBAC lets the functions sync and no more (the stand-in syncer is only in the group it binds), its package has
// both bundles and the alarms, its checks show three ready members with a heartbeat stamp and an Event, its
// SigV4-signed trigger answers a dry run and a sync, its deploy makes the role its access entry names, and its
// uninstall leaves nothing of ours in the cluster and no stack.
//
// Stand-ins: after a deploy (FUNCTIONS_AFTER), serverless offline runs the functions on the config the block
// deployed, with its EKS cluster entry swapped for a kubeconfig of the local API server (moto cannot make an API
// server, and the local one does not take EKS tokens) and the members' addresses swapped for test hosts in a
// network namespace (no test may send a probe to 10.0.0.0/8), and runs the scheduled function once. Where a
// block needs a real AWS account (REAL_ACCOUNT), the trigger's URL is a made-up API Gateway that checks the SigV4
// signature curl made with the test's keys (API Gateway's AWS_IAM check cannot run here; moto's stack has no
// URL) and passes the request on with offline's bearer token.
import assert from "node:assert/strict";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, readFile, realpath, rm, symlink, writeFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { Sha256 } from "@aws-crypto/sha256-js";
import { CreateClusterCommand, EKSClient } from "@aws-sdk/client-eks";
import { SignatureV4 } from "@smithy/signature-v4";
import { parse, stringify } from "yaml";
import { ensureControlPlaneBinaries } from "../../infra/control-plane/local-cluster.ts";
import { createTestNetwork, type BackendFleet, type TestNetwork } from "../../infra/netns/test-network.ts";
import { eventually, startTestCluster, type TestCluster } from "../harness/cluster.ts";
import { freePort, startMoto, type Moto } from "../harness/moto.ts";

const ROOT = join(import.meta.dirname, "../..");
const GUIDE = join(ROOT, "docs/deploying.md");
const REGION = "eu-west-1";
const KEYS = { accessKeyId: "AKIDGUIDETEST", secretAccessKey: "guide-test-secret" };
const OFFLINE_TOKEN = "guide-offline-token";
const MEMBERS = ["198.18.151.2", "198.18.151.3", "198.18.151.4"];
const STEP_TIMEOUT_MS = 5 * 60_000;
const NEEDS_AWS_COMMENT = "# needs a real AWS account";

type StandIn = () => Promise<void>;

/**
 * Blocks marked `aws-account` in the guide, and what this test does in their place. moto (5.2.5) has no access
 * entries, no URL in the stack's outputs, no function logs, and fails the next deploy after a rollback that
 * found nothing to change (its delete_change_set).
 */
const REAL_ACCOUNT: Record<string, StandIn> = {
  // The stand-in syncer's user is already in the group the entry would map the role to.
  "access-entry": async () => {},
  "trigger-url": async () => void (exported.URL = apiGateway.url),
  logs: async () => {},
  rollback: async () => {},
  "uninstall-access-entry": async () => {},
};

/** What the deployed functions do after a block, here. */
const FUNCTIONS_AFTER: Record<string, StandIn> = {
  deploy: () => startFunctions("config/prod.yaml"),
  "uninstall-deploy": () => startFunctions("config/uninstall.yaml"),
  "uninstall-remove": stopFunctions,
};

/** Where a made-up stand-in answers for what cannot run here, said in the block's test name. */
const MADE_UP: Record<string, string> = {
  trigger: "through a made-up API Gateway that checks SigV4",
};

/** Variables a block runs with and must not keep: update-kubeconfig writes moto's make-believe endpoint, kept out of ~/.kube/config. */
const STEP_ENV: Record<string, () => Record<string, string>> = {
  kubeconfig: () => ({ KUBECONFIG: join(scratch, "eks-kubeconfig") }),
};

/** What a block must have done, beyond exiting 0. */
const CHECKS: Record<string, (output: string) => Promise<void>> = {
  async kubeconfig() {
    assert.match(await readFile(join(scratch, "eks-kubeconfig"), "utf8"), /arn:aws:eks:eu-west-1:123456789012:cluster\/prod/);
  },
  async rbac(output) {
    assert.deepEqual(output.trim().split("\n").slice(-2), ["yes", "no"]);
  },
  async "role-arn"() {
    assert.equal(exported.ROLE_ARN, "arn:aws:iam::123456789012:role/external-endpoint-syncer-prod-eu-west-1-lambdaRole");
  },
  async package() {
    assert.deepEqual((await readdir(join(workspace, ".serverless"))).filter((name) => name.endsWith(".zip")).sort(), ["sync.zip", "trigger.zip", "worker.zip"]);
    const template = JSON.parse(await readFile(join(workspace, ".serverless/cloudformation-template-update-stack.json"), "utf8")) as {
      Resources: Record<string, { Type: string; Properties: Record<string, unknown> }>;
    };
    const resources = Object.values(template.Resources);
    assert.equal(resources.filter((resource) => resource.Type === "AWS::CloudWatch::Alarm").length, 5);
    const sync = resources.find((resource) => resource.Properties.FunctionName === "external-endpoint-syncer-prod-sync");
    assert.equal((sync?.Properties.Environment as { Variables: Record<string, string> }).Variables.EES_CONFIG, "config/prod.yaml");
  },
  async deploy() {
    const role = await aws("iam", "get-role", "--role-name", exported.ROLE_ARN!.split("/").at(-1)!, "--query", "Role.Arn", "--output", "text");
    assert.equal(role, exported.ROLE_ARN, "the role the access entry names");
  },
  async "deploy-list"(output) {
    assert.equal([...output.matchAll(/^Timestamp: \d+$/gm)].length, 1, "step 5's deploy");
  },
  async "uninstall-remove"() {
    await assert.rejects(aws("cloudformation", "describe-stacks", "--stack-name", "external-endpoint-syncer-prod"), /does not exist/);
  },
  async endpointslices(output) {
    for (const member of MEMBERS) assert.match(output, new RegExp(member.replaceAll(".", "\\.")));
  },
  async status(output) {
    for (const member of MEMBERS) assert.match(output, new RegExp(member.replaceAll(".", "\\.")));
  },
  async heartbeat(output) {
    assert.match(output, /^\d{4}-\d\d-\d\dT[\d:.]+Z {2}3 ready, 0 not ready$/m, "the stamp and the counts");
    assert.match(output, /EndpointsChanged/);
  },
  async trigger(output) {
    // Both find the members as the deploy's run left them: nothing to plan, nothing to write.
    const [dryRun, real] = output.trim().split("\n").map((line) => JSON.parse(line) as { ok: boolean; targets: { target: string; status: string }[] });
    for (const summary of [dryRun, real]) {
      assert.equal(summary?.ok, true);
      assert.deepEqual(summary?.targets.map((target) => [target.target, target.status]), [["etcd", "unchanged"]]);
    }
    assert.equal(apiGateway.passed, 2, "both went through the SigV4 check");
  },
  async "uninstall-prune"() {
    assert.equal(await adminKubectl("get", "endpointslices,endpoints,configmaps", "-n", "etcd", "-l", "app.kubernetes.io/managed-by=external-endpoint-syncer", "-o", "name"), "");
  },
  async "uninstall-rbac"() {
    assert.equal(await adminKubectl("get", "roles,rolebindings", "-n", "etcd", "-o", "name"), "");
  },
};

interface Block {
  step: string;
  awsAccount: boolean;
  script: string;
}

/** The guide's shell blocks: ```sh step=NAME [aws-account]. */
function shellBlocks(markdown: string): { blocks: Block[]; unnamed: string[] } {
  const blocks: Block[] = [];
  const unnamed: string[] = [];
  for (const [, info, script] of markdown.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)) {
    const [language, ...attributes] = (info ?? "").trim().split(/\s+/);
    if (!["sh", "bash", "shell", "console"].includes(language ?? "")) continue;
    const step = attributes.find((attribute) => attribute.startsWith("step="))?.slice("step=".length);
    if (step === undefined) unnamed.push(script!.split("\n")[0]!);
    else blocks.push({ step, awsAccount: attributes.includes("aws-account"), script: script! });
  }
  return { blocks, unnamed };
}

let moto: Moto;
let cluster: TestCluster;
let network: TestNetwork;
let fleet: BackendFleet;
let workspace: string;
let scratch: string;
let baseEnv: Record<string, string>;
/** What the blocks exported so far, as a reader's shell would keep it. */
const exported: Record<string, string> = {};
let offline: ChildProcess | undefined;
let offlineOutput = "";
let offlinePorts: { http: number; lambda: number };
let apiGateway: ApiGateway;

before(async () => {
  scratch = await mkdtemp(join(tmpdir(), "ees-guide-"));
  [moto, cluster, network] = await Promise.all([startMoto(), startTestCluster([]), createTestNetwork({ name: "ees-guide", subnetIndex: 151 })]);
  await network.addAddresses(MEMBERS);
  fleet = await network.startBackends();
  for (const member of MEMBERS) await fleet.listen(member, 2379, { kind: "tcp" });

  // The reader's EKS cluster, as the AWS CLI sees it.
  await new EKSClient({ region: REGION, endpoint: moto.endpoint }).send(
    new CreateClusterCommand({ name: "prod", roleArn: "arn:aws:iam::123456789012:role/eks", resourcesVpcConfig: { subnetIds: ["subnet-1"] } }),
  );

  workspace = join(scratch, "clone");
  await copyRepository(workspace);
  const bin = join(scratch, "bin");
  await mkdir(bin);
  // pip may put the AWS CLI's script where the PATH does not look; the module is always there.
  await writeFile(join(bin, "aws"), '#!/bin/sh\nexec python3 -m awscli "$@"\n', { mode: 0o755 });
  // kubectl comes with the control plane (infra/control-plane/build.sh).
  const controlPlane = await ensureControlPlaneBinaries();
  // The reader's ~/.kube/config: cluster-admin, with a context named after the cluster.
  const home = join(scratch, "home");
  await mkdir(join(home, ".kube"), { recursive: true });
  const admin = parse(await readFile(cluster.local.adminKubeconfig, "utf8")) as { contexts: { name: string }[]; "current-context": string };
  admin.contexts[0]!.name = "prod";
  admin["current-context"] = "prod";
  await writeFile(join(home, ".kube/config"), stringify(admin));
  baseEnv = {
    PATH: `${bin}:${controlPlane}:${process.env.PATH}`,
    HOME: home,
    AWS_ENDPOINT_URL: moto.endpoint,
    AWS_ACCESS_KEY_ID: KEYS.accessKeyId,
    AWS_SECRET_ACCESS_KEY: KEYS.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: "true",
    // npx would otherwise ask the registry for a newer npm on every block.
    npm_config_update_notifier: "false",
  };
  offlinePorts = { http: await freePort(), lambda: await freePort() };
  apiGateway = await startApiGateway();
});

after(async () => {
  await stopFunctions();
  apiGateway?.server.close();
  await Promise.all([moto?.stop(), cluster?.stop(), fleet?.stop()]);
  await network?.destroy();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** kubectl as cluster-admin, apart from the reader's shell: what the test itself looks at. */
async function adminKubectl(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)("kubectl", ["--kubeconfig", cluster.local.adminKubeconfig, ...args], { env: { ...process.env, PATH: baseEnv.PATH } });
  return stdout.trim();
}

/** The AWS CLI against moto, apart from the reader's shell: what the test itself looks at. */
async function aws(...args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)("python3", ["-m", "awscli", ...args], { env: { ...process.env, ...baseEnv, AWS_DEFAULT_REGION: REGION } });
  return stdout.trim();
}

/** The files git knows (committed or not), and node_modules by link: a clone after `npm ci`. */
async function copyRepository(to: string): Promise<void> {
  const { stdout } = await promisify(execFile)("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 });
  // A work tree whose node_modules is a link (not ignored as a folder) lists it: it is linked below.
  for (const file of stdout.split("\0").filter((file) => file && file !== "node_modules")) {
    await mkdir(dirname(join(to, file)), { recursive: true });
    await copyFile(join(ROOT, file), join(to, file)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error; // deleted in the work tree, not yet in git
    });
  }
  await symlink(await realpath(join(ROOT, "node_modules")), join(to, "node_modules"));
}

/** Runs one block as `bash -euo pipefail`, with the variables earlier blocks exported; keeps what it exports. */
async function runBlock(block: Block): Promise<string> {
  const overrides = STEP_ENV[block.step]?.() ?? {};
  const env = { ...baseEnv, ...exported, ...overrides };
  const envFile = join(scratch, "env-after");
  const script = `set -euo pipefail\n${block.script}\nenv -0 > ${envFile}\n`;
  const result = await new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn("bash", ["-c", script], { cwd: workspace, env, stdio: ["ignore", "pipe", "pipe"], timeout: STEP_TIMEOUT_MS });
    let output = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
    child.once("close", (code) => resolve({ code, output }));
  });
  assert.equal(result.code, 0, `step ${block.step} exited ${result.code}:\n${result.output}`);
  for (const entry of (await readFile(envFile, "utf8")).split("\0").filter(Boolean)) {
    const at = entry.indexOf("=");
    const [name, value] = [entry.slice(0, at), entry.slice(at + 1)];
    if (name in overrides || ["_", "SHLVL", "PWD", "OLDPWD"].includes(name)) continue;
    if (env[name as keyof typeof env] !== value) exported[name] = value;
  }
  return result.output;
}

/** The config a deploy names, as the stand-in syncer reaches the local cluster and the test hosts. */
async function standInConfig(file: string): Promise<string> {
  const config = parse(await readFile(join(workspace, file), "utf8")) as {
    clusters: { name: string }[];
    targets: { sources: { static?: { address?: string }[] }[] }[];
  };
  config.clusters = config.clusters.map(({ name }) => ({ name, kubeconfig: cluster.kubeconfig }));
  const members = [...MEMBERS];
  for (const source of config.targets.flatMap((target) => target.sources)) {
    source.static = source.static?.map((member) => ({ ...member, address: members.shift() }));
  }
  const path = join(scratch, `stand-in-${file.replaceAll("/", "-")}`);
  await writeFile(path, stringify(config));
  return path;
}

/** The deployed functions: serverless offline on that config, then one run of the scheduled function. */
async function startFunctions(file: string): Promise<void> {
  await stopFunctions();
  offlineOutput = "";
  // node_modules/.bin first, as npx would: its Node 22 runs the functions.
  const env = { ...process.env, ...baseEnv, PATH: `${join(workspace, "node_modules/.bin")}:${baseEnv.PATH}`, EES_CONFIG: await standInConfig(file), SYNC_TRIGGER_TOKEN: OFFLINE_TOKEN, OFFLINE_HTTP_PORT: String(offlinePorts.http), OFFLINE_LAMBDA_PORT: String(offlinePorts.lambda) };
  const started = spawn(join(workspace, "node_modules/.bin/sls"), ["offline", "start", "--stage", "prod", "--param=syncSchedule=false"], { cwd: workspace, env, stdio: ["ignore", "pipe", "pipe"] });
  offline = started;
  started.stdout!.setEncoding("utf8").on("data", (chunk: string) => (offlineOutput += chunk));
  started.stderr!.setEncoding("utf8").on("data", (chunk: string) => (offlineOutput += chunk));
  const up = await eventually(() => fetch(`http://127.0.0.1:${offlinePorts.http}/`).then(() => true, () => started.exitCode !== null), (done) => done, 90_000);
  assert.ok(up && started.exitCode === null, `serverless offline did not start:\n${offlineOutput}`);
  const response = await fetch(`http://127.0.0.1:${offlinePorts.lambda}/2015-03-31/functions/external-endpoint-syncer-prod-sync/invocations`, { method: "POST", body: "{}" });
  const summary = (await response.json()) as { ok: boolean };
  assert.equal(summary.ok, true, `the scheduled run: ${JSON.stringify(summary)}\n${offlineOutput}`);
}

async function stopFunctions(): Promise<void> {
  const running = offline;
  offline = undefined;
  if (!running || running.exitCode !== null) return;
  const exited = new Promise((resolve) => running.once("exit", resolve));
  running.kill("SIGTERM");
  await exited;
}

/** A made-up API Gateway for POST /sync: checks the SigV4 signature made with KEYS, then passes the request to offline. */
interface ApiGateway {
  url: string;
  server: Server;
  /** Requests whose signature checked out, and why the others were refused. */
  passed: number;
  refused: string[];
}

async function startApiGateway(): Promise<ApiGateway> {
  const gateway: ApiGateway = { url: "", server: undefined as unknown as Server, passed: 0, refused: [] };
  const server = createServer(async (request, response) => {
    const body = Buffer.concat(await request.toArray());
    const problem = await sigV4Problem(request, body);
    if (problem) {
      gateway.refused.push(problem);
      response.writeHead(403, { "content-type": "application/json" }).end(JSON.stringify({ message: problem }));
      return;
    }
    gateway.passed++;
    const passed = await fetch(`http://127.0.0.1:${offlinePorts.http}${request.url}`, {
      method: request.method,
      headers: { authorization: `Bearer ${OFFLINE_TOKEN}`, "content-type": request.headers["content-type"] ?? "application/json" },
      body,
    });
    response.writeHead(passed.status, { "content-type": "application/json" }).end(`${await passed.text()}\n`);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return Object.assign(gateway, { url: `http://127.0.0.1:${port}`, server });
}

/** Why API Gateway's AWS_IAM check would refuse this request, or undefined: the signature is recomputed from it. */
async function sigV4Problem(request: IncomingMessage, body: Buffer): Promise<string | undefined> {
  const authorization = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(
    request.headers.authorization ?? "",
  );
  if (!authorization) return "missing or malformed SigV4 Authorization header";
  const [, accessKeyId, , region, service, signedHeaders, signature] = authorization;
  if (accessKeyId !== KEYS.accessKeyId) return `unknown access key ${accessKeyId}`;
  if (region !== REGION || service !== "execute-api") return `signed for ${service} in ${region}, not execute-api in ${REGION}`;
  const amzDate = /^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/.exec(String(request.headers["x-amz-date"] ?? ""));
  if (!amzDate) return "missing x-amz-date";
  const [, year, month, day, hour, minute, second] = amzDate;
  const signingDate = new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}Z`);
  const headers = Object.fromEntries(signedHeaders!.split(";").map((name) => [name, String(request.headers[name] ?? "")]));
  const url = new URL(request.url ?? "/", "http://localhost");
  const signer = new SignatureV4({ credentials: KEYS, region: REGION, service: "execute-api", sha256: Sha256, applyChecksum: false });
  const signed = await signer.sign(
    { method: request.method ?? "POST", protocol: "http:", hostname: url.hostname, path: url.pathname, query: Object.fromEntries(url.searchParams), headers, body },
    { signingDate },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization))?.[1];
  return expected === signature ? undefined : "the signature does not match";
}

describe("docs/deploying.md", () => {
  const { blocks, unnamed } = shellBlocks(readFileSync(GUIDE, "utf8"));

  it("names every shell block, marks exactly the known ones as needing a real AWS account, and says so where a reader sees it", () => {
    assert.deepEqual(unnamed, [], "every ```sh block needs step=NAME");
    const steps = blocks.map((block) => block.step);
    assert.deepEqual(steps, [...new Set(steps)], "step names are unique");
    assert.deepEqual(blocks.filter((block) => block.awsAccount).map((block) => block.step).sort(), Object.keys(REAL_ACCOUNT).sort());
    for (const block of blocks) {
      assert.equal(block.script.startsWith(`${NEEDS_AWS_COMMENT}\n`), block.awsAccount, `step ${block.step}: "${NEEDS_AWS_COMMENT}" as its first line exactly when marked aws-account`);
    }
    for (const step of Object.keys(MADE_UP)) assert.ok(steps.includes(step), `step ${step} is in the guide`);
  });

  for (const block of blocks) {
    if (block.awsAccount) {
      it(`${block.step}: needs a real AWS account; the test stands in`, () => REAL_ACCOUNT[block.step]!());
      continue;
    }
    it(`${block.step}: runs${MADE_UP[block.step] ? ` ${MADE_UP[block.step]}` : ""}`, async () => {
      const output = await runBlock(block);
      await CHECKS[block.step]?.(output);
      await FUNCTIONS_AFTER[block.step]?.();
    });
  }

  it("the made-up API Gateway's SigV4 check, which the trigger passed, refuses a request signed for another region or with another key", async () => {
    assert.deepEqual(apiGateway.refused, [], "nothing the guide sent was refused");
    const post = (sigv4: string, user: string) =>
      promisify(execFile)("curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "--aws-sigv4", sigv4, "--user", user, "-d", "{}", `${apiGateway.url}/sync`]);
    assert.equal((await post(`aws:amz:us-east-1:execute-api`, `${KEYS.accessKeyId}:${KEYS.secretAccessKey}`)).stdout, "403");
    assert.equal((await post(`aws:amz:${REGION}:execute-api`, `${KEYS.accessKeyId}:not-the-secret`)).stdout, "403");
    assert.deepEqual(apiGateway.refused, ["signed for execute-api in us-east-1, not execute-api in eu-west-1", "the signature does not match"]);
  });
});
