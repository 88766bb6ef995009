// Secrets never leave. One distinctive secret is seeded into every place one can hide: stored kubeconfigs'
// tokens and client keys (moto's SSM and Secrets Manager, and inline), their exec and auth-provider plugins,
// a config's keyPem and caPem, HTTP check headers, and the trigger's token. Each is broken in every way we know
// (YAML tags, bad indentation, failures only js-yaml has, bad base64, wrong types, plugins that print it,
// broken PEM, a key that does not fit, header values with line breaks, wrong tokens) and run through the CLI
// (a child process), the scheduled and trigger handlers (log lines captured) and runSync against a real API
// server and real backends in a network namespace. The secret, or any 8 characters of it, or its base64,
// shows in no output, log line, report, response, thrown error, Event or ConfigMap.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import { CreateSecretCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
import { PutParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import type { APIGatewayProxyEvent, Context } from "aws-lambda";
import { parse, stringify } from "yaml";
import { createTestNetwork, type TestNetwork } from "../../infra/netns/test-network.ts";
import { runSync } from "../../functions/engine/run.ts";
import { ClusterConnections } from "../../functions/kube/client.ts";
import { createTestCa } from "../harness/certs.ts";
import { selectorlessService, startTestCluster, testConfig, type TestCluster } from "../harness/cluster.ts";
import { startMoto, type Moto } from "../harness/moto.ts";
import { spawnInNamespace, type NamespaceProcess } from "../harness/netns-process.ts";
import { CLI } from "../harness/cli.ts";

const SECRET = `S3CR3T-canary-${randomBytes(6).toString("hex")}`;
const REGION = "eu-west-1";
const NAMESPACE = "ees-secrets";
const ECHO = "198.18.70.2";
const WEB = "198.18.70.3";
const PORT = 8080;

/** Any 8 characters of the secret, or of its base64 at each of the three alignments: what must never show. */
const NEEDLES = (() => {
  const needles = new Set<string>();
  for (let at = 0; at + 8 <= SECRET.length; at++) needles.add(SECRET.slice(at, at + 8));
  for (const pad of ["", "x", "xx"]) {
    for (const encoding of ["base64", "base64url"] as const) {
      // The characters that depend on the secret alone, away from the padding on either side.
      const encoded = Buffer.from(pad + SECRET).toString(encoding);
      needles.add(encoded.slice(4, encoded.length - 4));
    }
  }
  return [...needles];
})();

function assertClean(where: string, text: string) {
  const found = NEEDLES.filter((needle) => text.includes(needle));
  assert.deepEqual(found, [], `${where} holds a piece of the secret:\n${text}`);
}

let dir: string;
let cluster: TestCluster;
let moto: Moto;
let network: TestNetwork;
let servers: NamespaceProcess;
/** The syncer's own kubeconfig, as an object to vary. */
let base: { clusters: { cluster: Record<string, unknown> }[]; users: { name: string; user: Record<string, unknown> }[] } & Record<string, unknown>;
let certPem: string;
let otherKeyPem: string;

// An echo server (our request comes back as its "answer") and an HTTP server that answers with the request's
// headers in its body, 503 on /503.
const SERVERS = `
const net = require("node:net"); const http = require("node:http");
const [echo, web, port] = process.argv.slice(1);
net.createServer((socket) => socket.on("data", (data) => socket.write(data)).on("error", () => {})).listen(Number(port), echo);
http.createServer((request, response) => {
  response.writeHead(request.url === "/503" ? 503 : 200, { "content-type": "application/json" });
  response.end(JSON.stringify(request.headers));
}).listen(Number(port), web);`;

async function reachable(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: address, port, timeout: 1000 }, () => (socket.destroy(), resolve(true)));
    socket.on("error", () => resolve(false)).on("timeout", () => (socket.destroy(), resolve(false)));
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "ees-secrets-"));
  [cluster, moto, network] = await Promise.all([
    startTestCluster([NAMESPACE]),
    startMoto(),
    createTestNetwork({ name: "ees-secrets", subnetIndex: 70 }),
  ]);
  process.env.AWS_ENDPOINT_URL = moto.endpoint;
  process.env.AWS_REGION = REGION;
  await network.addAddresses([ECHO, WEB]);
  servers = spawnInNamespace(network.name, process.execPath, ["-e", SERVERS, ECHO, WEB, String(PORT)], join(dir, "servers.log"));
  for (let tries = 0; !((await reachable(ECHO, PORT)) && (await reachable(WEB, PORT))); tries++) {
    if (tries > 100) throw new Error(`the test servers did not start: ${await readFile(join(dir, "servers.log"), "utf8")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  base = parse(await readFile(cluster.kubeconfig, "utf8"));
  const ca = await createTestCa(dir, "secrets");
  const [client, other] = await Promise.all([ca.issue("client", {}), ca.issue("other", {})]);
  certPem = await readFile(client.certFile, "utf8");
  otherKeyPem = await readFile(other.keyFile, "utf8");
  for (const service of ["svc", "echo", "status", "body", "key-broken", "key-mismatch", "ca-broken", "ca-garbage"]) {
    await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, service, [{ port: PORT }]) });
  }
});

after(async () => {
  delete process.env.AWS_ENDPOINT_URL;
  await servers?.stop();
  await Promise.all([moto?.stop(), cluster?.stop(), network?.destroy()]);
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** The syncer's kubeconfig with its user's fields replaced. */
function kubeconfigWith(user: Record<string, unknown>): string {
  return stringify({ ...base, users: base.users.map((entry) => ({ ...entry, user })) });
}

const exec = (script: string) => ({ apiVersion: "client.authentication.k8s.io/v1beta1", command: "sh", args: ["-c", script], interactiveMode: "Never" });
const keyData = (pem: string) => Buffer.from(pem).toString("base64");

/** Every broken kubeconfig, by the cluster entry that reaches it: [name, where it is kept, text, entry's extra fields]. */
function brokenKubeconfigs(): [string, "parameter" | "secret" | "inline" | "file", string, Record<string, unknown>?][] {
  const token = kubeconfigWith({ token: "placeholder" });
  return [
    // `yaml` takes it (with a warning), js-yaml throws and quotes the token: the finding this test began with.
    ["vault-tag", "parameter", token.replace("token: placeholder", `token: !vault ${SECRET}`)],
    ["bad-indent", "parameter", token.replace("token: placeholder", `token: x\n     client-key-data: ${SECRET}`)],
    ["unclosed-quote", "secret", token.replace("token: placeholder", `token: "${SECRET}`)],
    ["duplicate-key", "parameter", token.replace("token: placeholder", `token: ${SECRET}\n      token: ${SECRET}`)],
    ["alias", "secret", token.replace("token: placeholder", `token: *${SECRET}`)],
    ["token-map", "parameter", kubeconfigWith({ token: { [SECRET]: SECRET } })],
    ["key-list", "secret", kubeconfigWith({ "client-key-data": [SECRET], "client-certificate-data": keyData(certPem) })],
    ["two-documents", "secret", `${token}---\n${SECRET}\n`],
    ["scalar", "parameter", `${SECRET}\n`],
    ["wrong-token", "parameter", kubeconfigWith({ token: SECRET })],
    ["bad-base64-key", "secret", kubeconfigWith({ "client-key-data": `${SECRET}!!`, "client-certificate-data": keyData(certPem) })],
    ["broken-pem-key", "secret", kubeconfigWith({ "client-key-data": keyData(`-----BEGIN PRIVATE KEY-----\n${SECRET}\n-----END PRIVATE KEY-----\n`), "client-certificate-data": keyData(certPem) })],
    ["mismatched-key", "parameter", kubeconfigWith({ "client-key-data": keyData(`${SECRET}\n${otherKeyPem}`), "client-certificate-data": keyData(certPem) })],
    ["exec-refused", "parameter", kubeconfigWith({ exec: exec(`echo ${SECRET} >&2; exit 1`) })],
    ["exec-stderr", "parameter", kubeconfigWith({ exec: exec(`echo ${SECRET} >&2; exit 1`) }), { allowAuthPlugins: true }],
    ["exec-stdout", "secret", kubeconfigWith({ exec: exec(`echo ${SECRET}`) }), { allowAuthPlugins: true }],
    ["exec-token", "secret", kubeconfigWith({ exec: exec(`echo '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"${SECRET}"}}'`) }), { allowAuthPlugins: true }],
    ["auth-provider", "parameter", kubeconfigWith({ "auth-provider": { name: "oidc", config: { "id-token": SECRET, "idp-issuer-url": "https://127.0.0.1:1" } } })],
    ["token-file", "parameter", kubeconfigWith({ "token-file": join(dir, "token") })],
    ["inline-vault", "inline", token.replace("token: placeholder", `token: !vault ${SECRET}`)],
    ["inline-exec", "inline", kubeconfigWith({ exec: exec(`echo ${SECRET} >&2; exit 1`) })],
    ["file-vault", "file", token.replace("token: placeholder", `token: !vault ${SECRET}`)],
    // The operator's own file may run plugins, as kubectl does; what they print still never shows.
    ["file-exec", "file", kubeconfigWith({ exec: exec(`echo ${SECRET} >&2; exit 1`) })],
  ];
}

const quiet = { ports: [{ port: PORT }], sources: [{ static: [{ address: "192.0.2.10" }] }], check: { none: {} } };
const headers = { Authorization: `Bearer ${SECRET}`, "X-Api-Key": SECRET };
const onGood = (name: string, address: string, check: unknown) => ({ name, cluster: "good", namespace: NAMESPACE, service: name, ports: [{ port: PORT }], sources: [{ static: [{ address }] }], check });

/** One config holding every broken kubeconfig and every broken check: each fails its own target only. */
async function runtimeConfig(): Promise<Record<string, unknown>> {
  await writeFile(join(dir, "token"), SECRET);
  const clusters: Record<string, unknown>[] = [{ name: "good", kubeconfig: cluster.kubeconfig }];
  const targets: Record<string, unknown>[] = [];
  for (const [name, kept, text, extra] of brokenKubeconfigs()) {
    let access: Record<string, unknown>;
    if (kept === "parameter") {
      await new SSMClient({}).send(new PutParameterCommand({ Name: `/secrets/${name}`, Type: "SecureString", Value: text, Overwrite: true }));
      access = { kubeconfigParameter: { name: `/secrets/${name}`, region: REGION } };
    } else if (kept === "secret") {
      await new SecretsManagerClient({}).send(new CreateSecretCommand({ Name: `secrets/${name}`, SecretString: text })).catch(() => undefined);
      access = { kubeconfigSecret: { id: `secrets/${name}`, region: REGION } };
    } else if (kept === "inline") access = { kubeconfigData: text };
    else {
      await writeFile(join(dir, `${name}.kubeconfig`), text);
      access = { kubeconfig: join(dir, `${name}.kubeconfig`) };
    }
    clusters.push({ name, ...access, ...extra });
    targets.push({ name, cluster: name, namespace: NAMESPACE, service: "svc", ...quiet });
  }
  const brokenKey = `-----BEGIN PRIVATE KEY-----\n${SECRET}\n-----END PRIVATE KEY-----\n`;
  targets.push(
    onGood("echo", ECHO, { http: { path: `/health?token=${SECRET}`, headers: { ...headers, Host: "a", "User-Agent": SECRET } } }),
    onGood("status", WEB, { http: { path: "/503", headers } }),
    onGood("body", WEB, { http: { headers, body: { contains: "never there" } } }),
    onGood("key-broken", WEB, { tls: { certPem, keyPem: brokenKey, insecureSkipVerify: true } }),
    onGood("key-mismatch", WEB, { https: { certPem, keyPem: `${SECRET}\n${otherKeyPem}`, headers } }),
    onGood("ca-broken", WEB, { https: { caPem: `-----BEGIN CERTIFICATE-----\n${SECRET}\n-----END CERTIFICATE-----\n` } }),
    onGood("ca-garbage", WEB, { tls: { caPem: SECRET } }),
  );
  return { clusters, targets };
}

/** Runs `run` with the process's stdout and stderr also copied into the returned text (the handlers' log lines). */
async function captured<T>(run: () => Promise<T>): Promise<{ output: string; value?: T; error?: Error }> {
  const chunks: string[] = [];
  const streams = [process.stdout, process.stderr];
  const writes = streams.map((stream) => stream.write);
  streams.forEach((stream, index) => {
    stream.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
      chunks.push(typeof chunk === "string" ? chunk : Buffer.from(chunk).toString());
      return writes[index]!.call(stream, chunk, ...rest);
    }) as typeof stream.write;
  });
  try {
    const value = await run();
    return { output: chunks.join(""), value };
  } catch (error) {
    return { output: chunks.join(""), error: error as Error };
  } finally {
    streams.forEach((stream, index) => (stream.write = writes[index]!));
  }
}

/** The thrown error as the Lambda runtime would log it: message and stack. */
const thrown = (error: Error | undefined) => (error ? `${String(error)}\n${error.stack}` : "");

async function cli(args: string[]) {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [CLI, ...args], { env: process.env, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const context = (id: string) => ({ awsRequestId: id, functionName: "secrets", getRemainingTimeInMillis: () => 60_000 }) as Context;
const request = (authorization: string | undefined, body: string | null = null) =>
  ({ headers: authorization === undefined ? {} : { Authorization: authorization }, body, requestContext: {} }) as unknown as APIGatewayProxyEvent;

describe("secrets never leave", () => {
  // Before any good config: the functions keep a config that loaded for the rest of the process.
  it("a config whose keyPem, caPem or headers are broken is refused without them, by the CLI and both handlers", async () => {
    const target = (check: unknown, extra: Record<string, unknown> = {}) => ({ clusters: [{ name: "good", kubeconfig: cluster.kubeconfig }], targets: [{ ...onGood("echo", ECHO, check), ...extra }] });
    const pemKey = `-----BEGIN PRIVATE KEY-----\n${SECRET}\n-----END PRIVATE KEY-----`;
    const configs: [string, string][] = [
      ["keyPem block, bad indent", `clusters: [{ name: good }]\ntargets:\n  - check:\n      tls:\n        keyPem: |\n    ${pemKey.replaceAll("\n", "\n    ")}\n      x: 1\n`],
      ["keyPem block, under-indented", `targets:\n  - check:\n      tls:\n        keyPem: |\n${pemKey}\n`],
      ["keyPem tag", `targets:\n  - check:\n      tls:\n        keyPem: !secret ${SECRET}\n`],
      ["keyPem alias", `targets:\n  - check:\n      tls:\n        keyPem: *${SECRET}\n`],
      ["caPem unclosed quote", `targets:\n  - check:\n      tls:\n        caPem: "${SECRET}\n`],
      ["caPem bad escape", `targets:\n  - check:\n      tls:\n        caPem: "${SECRET}\\q"\n`],
      ["header as a nested mapping", `targets:\n  - check:\n      http:\n        headers: { Authorization: Bearer ${SECRET}: x }\n`],
      ["header, tab indent", `targets:\n  - check:\n      http:\n        headers:\n\t  Authorization: Bearer ${SECRET}\n`],
      ["header in a directive", `%${SECRET}\n---\ntargets: []\n`],
      ["header value with CR LF", stringify(target({ http: { headers: { Authorization: `Bearer ${SECRET}\r\nX-Injected: 1` } } }))],
      ["header value with LF", stringify(target({ http: { headers: { "X-Api-Key": `${SECRET}\nX: y` } } }))],
      ["header name holding the whole header", stringify(target({ http: { headers: { [`Authorization: Bearer ${SECRET}`]: "" } } }))],
      ["headers as a list", stringify(target({ http: { headers: [`Authorization: Bearer ${SECRET}`] } }))],
      ["header value a number list", stringify(target({ http: { headers: { Authorization: [SECRET] } } }))],
      ["keyPem a list", stringify(target({ tls: { certPem, keyPem: [SECRET] } }))],
      ["caPem a mapping", stringify(target({ tls: { caPem: { [SECRET]: SECRET } } }))],
      ["a key where the check belongs", stringify(target({ tls: pemKey }))],
      ["keyPem beside keyFile", stringify(target({ tls: { certPem, keyPem: SECRET, keyFile: "/k" } }))],
      ["a check indented into sources", stringify(target({ none: {} }, { sources: { check: { https: { keyPem: SECRET, caPem: SECRET, headers } } } }))],
      ["kubeconfigData a mapping", stringify({ clusters: [{ name: "good", kubeconfigData: { users: [{ user: { token: SECRET } }] } }], targets: [] })],
      ["kubeconfigData beside kubeconfig", stringify({ clusters: [{ name: "good", kubeconfig: "/k", kubeconfigData: `token: ${SECRET}` }], targets: [] })],
    ];
    const { handler: sync } = await import("../../functions/sync.ts");
    const { handler: trigger } = await import("../../functions/trigger.ts");
    process.env.IS_OFFLINE = "true";
    process.env.SYNC_TRIGGER_TOKEN = SECRET;
    try {
      for (const [name, text] of configs) {
        const file = join(dir, "broken.yaml");
        await writeFile(file, text);
        for (const command of ["validate", "sync"]) {
          const result = await cli([command, "--config", file]);
          assert.equal(result.code, 2, `${name}: ${result.stdout}${result.stderr}`);
          assert.match(result.stderr, /^invalid config /, name);
          assertClean(`CLI ${command}, ${name}`, result.stdout + result.stderr);
        }
        process.env.EES_CONFIG = file;
        const scheduled = await captured(() => sync({} as never, context(`broken-${name}`)));
        assert.ok(scheduled.error, `${name}: the scheduled function refused it`);
        assertClean(`sync handler, ${name}`, scheduled.output + thrown(scheduled.error));
        const triggered = await captured(() => trigger(request(`Bearer ${SECRET}`), context(`broken-trigger-${name}`)));
        assertClean(`trigger handler, ${name}`, triggered.output + thrown(triggered.error) + JSON.stringify(triggered.value ?? ""));
      }
      // The config kept in SSM, as the functions may read it.
      for (const [name, text] of configs.slice(0, 6)) {
        await new SSMClient({}).send(new PutParameterCommand({ Name: "/secrets/config", Type: "SecureString", Value: text, Overwrite: true }));
        process.env.EES_CONFIG_PARAMETER = "/secrets/config";
        const scheduled = await captured(() => sync({} as never, context(`ssm-${name}`)));
        assert.match(String(scheduled.error), /invalid config SSM parameter \/secrets\/config/, name);
        assertClean(`sync handler, config in SSM, ${name}`, scheduled.output + thrown(scheduled.error));
      }
    } finally {
      delete process.env.EES_CONFIG;
      delete process.env.EES_CONFIG_PARAMETER;
    }
  });

  it("the trigger's token shows in no response or log line, however it is given wrong", async () => {
    const { handler: trigger } = await import("../../functions/trigger.ts");
    process.env.IS_OFFLINE = "true";
    process.env.SYNC_TRIGGER_TOKEN = SECRET;
    const wrong: [string | undefined, string | null][] = [
      [undefined, null],
      ["", null],
      [`Bearer ${SECRET}x`, null],
      [`Bearer ${SECRET.slice(0, -1)}`, null],
      [`Bearer ${SECRET.toLowerCase()}`, null],
      [`Basic ${Buffer.from(`user:${SECRET}`).toString("base64")}`, null],
      [`Bearer ${SECRET}\r\nX-Injected: 1`, null],
      [`Bearer ${Buffer.from(SECRET).toString("base64")}`, null],
      [undefined, SECRET],
      [undefined, JSON.stringify({ token: SECRET })],
    ];
    for (const [authorization, body] of wrong) {
      const result = await captured(() => trigger(request(authorization, body), context("wrong-token")));
      assert.equal(result.value?.statusCode, 401, `${authorization} / ${body}: ${JSON.stringify(result.value)}`);
      assertClean(`trigger, ${JSON.stringify(authorization)}`, result.output + thrown(result.error) + JSON.stringify(result.value));
    }
    // A right token with a body that is not what the trigger takes: the body is the caller's, and still not echoed.
    for (const body of [SECRET, `{"targets": "${SECRET}"`, JSON.stringify({ token: SECRET })]) {
      const result = await captured(() => trigger(request(`Bearer ${SECRET}`, body), context("bad-body")));
      assert.equal(result.value?.statusCode, 400, JSON.stringify(result.value));
      assertClean(`trigger body ${body}`, result.output + JSON.stringify(result.value));
    }
  });

  it("broken stored kubeconfigs and broken checks fail their own targets, saying where, and never what", async () => {
    const config = await runtimeConfig();
    await cluster.grant(testConfig(config));
    const file = join(dir, "runtime.yaml");
    await writeFile(file, stringify(config));
    const names = brokenKubeconfigs().map(([name]) => name);

    const report = await runSync(testConfig(config), new ClusterConnections(testConfig(config).clusters));
    assertClean("runSync's report", JSON.stringify(report));
    const byName = new Map(report.targets.map((target) => [target.target, target]));
    for (const name of names) assert.equal(byName.get(name)?.status, "failed", `${name}: ${JSON.stringify(byName.get(name))}`);
    const error = (name: string) => byName.get(name)?.error ?? "";
    assert.match(error("vault-tag"), /^cluster vault-tag: the kubeconfig from SSM parameter \/secrets\/vault-tag cannot be used: not valid YAML: line \d+, column \d+: tag resolve failed$/);
    assert.match(error("exec-refused"), /users\.0\.user\.exec: a stored kubeconfig's plugins run commands in the syncer; set allowAuthPlugins: true/);
    assert.match(error("exec-stderr"), /cluster exec-stderr: the kubeconfig's user cannot authenticate: its exec plugin failed/);
    assert.match(error("file-exec"), /cluster file-exec: the kubeconfig's user cannot authenticate: its exec plugin failed/);
    assert.match(error("wrong-token"), /HTTP 401/);
    assert.match(error("exec-token"), /HTTP 401/);
    assert.match(error("token-file"), /users\.0\.user\.token-file: a stored kubeconfig must carry its credentials inline/);
    assert.match(error("key-broken"), /the CA, certificate or key cannot be used/);
    assert.match(error("key-mismatch"), /the CA, certificate or key cannot be used/);
    assert.equal(byName.get("echo")?.backends[0]?.detail, "not an HTTP/1.1 answer: it is our own request sent back");
    for (const [target, reason] of [["echo", "ProtocolError"], ["status", "StatusMismatch"], ["body", "BodyMismatch"]] as const) {
      assert.deepEqual(byName.get(target)?.backends.map((backend) => backend.reason), [reason], `${target}: ${JSON.stringify(byName.get(target))}`);
    }

    for (const args of [
      ["sync", "--config", file],
      ["sync", "--config", file, "-o", "json"],
      ["sync", "--config", file, "--dry-run", "--log-level", "debug"],
      ["status", "--config", file],
      ["status", "--config", file, "-o", "yaml"],
    ]) {
      const result = await cli(args);
      assert.equal(result.code, 1, result.stderr);
      assertClean(`CLI ${args.join(" ")}`, result.stdout + result.stderr);
    }

    process.env.EES_CONFIG = file;
    try {
      const { handler: sync } = await import("../../functions/sync.ts");
      const scheduled = await captured(() => sync({} as never, context("scheduled")));
      assert.equal(scheduled.error, undefined, thrown(scheduled.error));
      assert.match(scheduled.output, /"message":"target failed".*"target":"vault-tag"/);
      assertClean("sync handler", scheduled.output + JSON.stringify(scheduled.value));

      const { handler: trigger } = await import("../../functions/trigger.ts");
      process.env.IS_OFFLINE = "true";
      process.env.SYNC_TRIGGER_TOKEN = SECRET;
      const triggered = await captured(() => trigger(request(`Bearer ${SECRET}`, JSON.stringify({ dryRun: false })), context("triggered")));
      assert.equal(triggered.value?.statusCode, 200, thrown(triggered.error));
      assertClean("trigger handler", triggered.output + JSON.stringify(triggered.value));
    } finally {
      delete process.env.EES_CONFIG;
    }
  });

  it("nothing the syncer wrote into the cluster holds the secret: Events, ConfigMaps, EndpointSlices, Endpoints", async () => {
    const [events, configMaps, slices, endpoints] = await Promise.all([
      cluster.admin.core.listNamespacedEvent({ namespace: NAMESPACE }),
      cluster.admin.core.listNamespacedConfigMap({ namespace: NAMESPACE }),
      cluster.admin.discovery.listEndpointSliceForAllNamespaces(),
      cluster.admin.core.listEndpointsForAllNamespaces(),
    ]);
    assert.ok(events.items.some((event) => event.reason === "EndpointsChanged"), "the checks' targets wrote Events to look into");
    assert.ok(configMaps.items.some((item) => item.metadata?.name?.endsWith("-ees-memory")), "and memory");
    assertClean("Events", JSON.stringify(events.items));
    assertClean("ConfigMaps", JSON.stringify(configMaps.items));
    assertClean("EndpointSlices", JSON.stringify(slices.items));
    assertClean("Endpoints", JSON.stringify(endpoints.items));
  });
});
