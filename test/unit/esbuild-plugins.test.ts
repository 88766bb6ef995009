// infra/esbuild-plugins.ts, on a bundle made with serverless.yml's esbuild options: client-node's auth-provider
// plugins still authenticate through their stand-ins and load only when used, as does socks; the narrowed
// Kubernetes APIs carry exactly the methods listed in functions/kube/api-methods.ts, and in a fresh process each
// of them still sends its request (what a breaking client-node upgrade would stop); a generated file in a shape
// the narrowing does not know is bundled whole, with a warning; the AWS SDK clients keep the shapes their
// commands need.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import * as esbuild from "esbuild";
import { functionsBuildOptions } from "../../infra/esbuild-options.ts";
import plugins from "../../infra/esbuild-plugins.ts";
import { CORE_V1_METHODS, DISCOVERY_V1_METHODS } from "../../functions/kube/api-methods.ts";
import { SocksClient } from "../../functions/kube/client-node-lazy.ts";

const ROOT = path.join(import.meta.dirname, "../..");
const GENERATED = path.join(ROOT, "node_modules/@kubernetes/client-node/dist/gen");

// Runs inside the bundle, beside the sync function's handler: what each kind of kubeconfig user sends, the APIs'
// methods, and a call of each through the functions' own clients.
const ENTRY = `
export { handler } from "./functions/sync.ts";
import { CoreV1Api, DiscoveryV1Api, KubeConfig, createConfiguration, ServerConfiguration } from "./functions/kube/client-node.ts";
import { connectCluster } from "./functions/kube/client.ts";
import { CORE_V1_METHODS, DISCOVERY_V1_METHODS } from "./functions/kube/api-methods.ts";
import { DescribeInstancesCommand, EC2Client } from "./functions/aws/sdk-ec2.ts";

export async function authorization(user) {
  const config = new KubeConfig();
  config.loadFromString(JSON.stringify({
    clusters: [{ name: "c", cluster: { server: "https://192.0.2.1", "insecure-skip-tls-verify": true } }],
    users: [{ name: "u", user }],
    contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
    "current-context": "x",
  }));
  const headers = {};
  await config.applySecurityAuthentication({ setHeaderParam: (name, value) => (headers[name] = value), setDispatcher() {} });
  return headers.Authorization;
}

export function methods() {
  const configuration = createConfiguration({ baseServer: new ServerConfiguration("https://192.0.2.1", {}) });
  const own = (api) => Object.getOwnPropertyNames(Object.getPrototypeOf(api)).filter((name) => name !== "constructor").sort();
  return { core: own(new CoreV1Api(configuration)), discovery: own(new DiscoveryV1Api(configuration)) };
}

// Each listed method, called through the clients the functions make, against a server that is not there: what
// each call ends with (a refused connection means client-node built and sent the request).
export async function callEveryMethod(server) {
  const kubeconfig = {
    clusters: [{ name: "c", cluster: { server, "insecure-skip-tls-verify": true } }],
    users: [{ name: "u", user: { token: "t" } }],
    contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
    "current-context": "x",
  };
  const { core, discovery } = connectCluster({ name: "c", kubeconfigData: JSON.stringify(kubeconfig) });
  const param = { name: "n", namespace: "ns", body: {} };
  const ending = async (api, method) => {
    if (typeof api[method] !== "function") return "not a function";
    try {
      await api[method](param);
      return "answered";
    } catch (error) {
      for (let cause = error; cause; cause = cause.cause) if (cause.code === "ECONNREFUSED") return "ECONNREFUSED";
      return String(error);
    }
  };
  const endings = {};
  for (const method of CORE_V1_METHODS) endings[method] = await ending(core, method);
  for (const method of DISCOVERY_V1_METHODS) endings[method] = await ending(discovery, method);
  return endings;
}

export async function describeInstancesRequest() {
  const client = new EC2Client({ region: "eu-west-1", credentials: { accessKeyId: "a", secretAccessKey: "b" } });
  let body;
  client.middlewareStack.add((next) => async (args) => { body = String(args.request.body); throw new Error("stop"); }, { step: "finalizeRequest" });
  await client.send(new DescribeInstancesCommand({ Filters: [{ Name: "tag:role", Values: ["db"] }], MaxResults: 5 })).catch(() => undefined);
  return body;
}
`;

let dir: string;
let bundle: {
  authorization(user: object): Promise<string | undefined>;
  methods(): { core: string[]; discovery: string[] };
  callEveryMethod(server: string): Promise<Record<string, string>>;
  describeInstancesRequest(): Promise<string>;
};
let metafile: esbuild.Metafile;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ees-plugins-"));
  const result = await esbuild.build({
    ...(await functionsBuildOptions()).options,
    absWorkingDir: ROOT,
    stdin: { contents: ENTRY, resolveDir: ROOT, sourcefile: "entry.js", loader: "js" },
    outdir: path.join(dir, "bundle"),
    entryNames: "entry",
    metafile: true,
    logLevel: "silent",
  });
  assert.deepEqual(result.warnings, []);
  metafile = result.metafile;
  bundle = await import(pathToFileURL(path.join(dir, "bundle/entry.mjs")).href);
});

/** One of client-node's generated files, as given, loaded as the functions' build loads it and as it is. */
async function loadGenerated(file: string, source: string) {
  const copy = path.join(dir, "changed/node_modules/@kubernetes/client-node/dist/gen", file);
  await mkdir(path.dirname(copy), { recursive: true });
  await writeFile(copy, source);
  const load = (withPlugins: boolean) => esbuild.build({ entryPoints: [copy], bundle: false, write: false, format: "esm", plugins: withPlugins ? plugins : [], logLevel: "silent" });
  const [built, whole] = await Promise.all([load(true), load(false)]);
  return { code: built.outputFiles[0]!.text, whole: whole.outputFiles[0]!.text, warnings: built.warnings.map((warning) => warning.text) };
}

after(() => rm(dir, { recursive: true, force: true }));

describe("the functions' esbuild plugins", () => {
  it("authenticates azure, gcp and oidc users as client-node does, loading those plugins only then", async () => {
    const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const idToken = `${b64({ alg: "none" })}.${b64({ exp: 4102444800 })}.signature`;
    const inAnHour = Math.floor(Date.now() / 1000) + 3600;
    assert.equal(await bundle.authorization({ token: "plain" }), "Bearer plain");
    assert.equal(await bundle.authorization({ "auth-provider": { name: "oidc", config: { "id-token": idToken, "client-id": "c", "idp-issuer-url": "https://issuer.invalid" } } }), `Bearer ${idToken}`);
    assert.equal(await bundle.authorization({ "auth-provider": { name: "gcp", config: { "access-token": "gcp-token", expiry: new Date(inAnHour * 1000).toISOString() } } }), "Bearer gcp-token");
    assert.equal(await bundle.authorization({ "auth-provider": { name: "azure", config: { "access-token": "azure-token", "expires-on": String(inAnHour) } } }), "Bearer azure-token");

    // The entry's static imports, transitively, hold none of the plugins' dependencies.
    const entry = Object.keys(metafile.outputs).find((file) => file.endsWith("/entry.mjs"))!;
    const loaded = new Set<string>();
    const visit = (file: string) => {
      if (loaded.has(file)) return;
      loaded.add(file);
      for (const imported of metafile.outputs[file]!.imports) if (imported.kind === "import-statement" && !imported.external) visit(imported.path);
    };
    visit(entry);
    const inputs = [...loaded].flatMap((file) => Object.keys(metafile.outputs[file]!.inputs));
    for (const lazy of ["openid-client", "oauth4webapi", "jsonpath-plus", "client-node/dist/oidc_auth.js", "client-node/dist/azure_auth.js", "node_modules/socks/", "ip-address"]) {
      assert.ok(!inputs.some((input) => input.includes(lazy)), `${lazy} is loaded up front`);
    }
  });

  it("loads socks on the first connection, keeping its callback and promise contract", async () => {
    const invalid = { proxy: { host: "192.0.2.1", port: 1080, type: 5 }, command: "nonsense", destination: { host: "192.0.2.2", port: 80 } } as never;
    await assert.rejects(SocksClient.createConnection(invalid), /command/i);
    let called: unknown;
    const resolved = await SocksClient.createConnection(invalid, (error) => (called = error));
    assert.match(String(called), /command/i);
    assert.equal(resolved, called);
  });

  it("leaves CoreV1Api and DiscoveryV1Api exactly the methods we call", () => {
    const both = (methods: readonly string[]) => methods.flatMap((method) => [method, `${method}WithHttpInfo`]).sort();
    const { core, discovery } = bundle.methods();
    assert.deepEqual(core, both(CORE_V1_METHODS));
    assert.deepEqual(discovery, both(DISCOVERY_V1_METHODS));
  });

  it("bundles the sync handler with every listed method sending its request, in a fresh process", async () => {
    // A port nothing listens on: taken, then given back.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const script = `const bundle = await import(${JSON.stringify(pathToFileURL(path.join(dir, "bundle/entry.mjs")).href)});
      console.log(JSON.stringify({ handler: typeof bundle.handler, endings: await bundle.callEveryMethod("https://127.0.0.1:${port}") }));`;
    const { stdout } = await promisify(execFile)(path.join(ROOT, "node_modules/.bin/node"), ["--input-type=module", "--eval", script], { cwd: dir });
    const { handler, endings } = JSON.parse(stdout);
    assert.equal(handler, "function");
    const methods = [...CORE_V1_METHODS, ...DISCOVERY_V1_METHODS];
    assert.deepEqual(endings, Object.fromEntries(methods.map((method) => [method, "ECONNREFUSED"])));
  });

  it("narrows the generated files of the client-node version package.json pins", async () => {
    const pinned = JSON.parse(await readFile(path.join(ROOT, "package.json"), "utf8")).dependencies["@kubernetes/client-node"];
    const installed = JSON.parse(await readFile(path.join(GENERATED, "../../package.json"), "utf8")).version;
    assert.equal(pinned, installed);
    // Per file, a method the functions do not call.
    const unused = { "apis/CoreV1Api.js": "listNamespacedPod(", "apis/DiscoveryV1Api.js": "deleteCollectionNamespacedEndpointSlice(", "types/ObservableAPI.js": "listNamespacedPod(", "types/ObjectParamAPI.js": "listNamespacedPod(" };
    for (const [file, method] of Object.entries(unused)) {
      const { code, whole, warnings } = await loadGenerated(file, await readFile(path.join(GENERATED, file), "utf8"));
      assert.deepEqual(warnings, [], file);
      assert.ok(whole.includes(method) && !code.includes(method), `${file} keeps ${method}`);
    }
  });

  it("bundles a generated file whole, with a warning naming what it did not recognise, when its shape changed", async () => {
    const core = await readFile(path.join(GENERATED, "apis/CoreV1Api.js"), "utf8");
    const objects = await readFile(path.join(GENERATED, "types/ObjectParamAPI.js"), "utf8");
    const signature = "    async readNamespacedService(name, namespace, pretty, _options) {";
    assert.ok(core.includes(signature));
    // The class split in two before readNamespacedService's doc comment.
    const lines = objects.split("\n");
    const method = lines.indexOf("    readNamespacedService(param, options) {");
    assert.ok(method > 0);
    lines.splice(lines.lastIndexOf("    /**", method), 0, "}", "export class ObjectCoreV1ApiMore {");
    const changes = [
      { what: "a method renamed", file: "apis/CoreV1Api.js", source: core.replace(signature, signature.replace("(", "V2(")), warning: /CoreV1Api\.js .*class CoreV1ApiRequestFactory: no method readNamespacedService \(/ },
      { what: "a line reformatted", file: "apis/CoreV1Api.js", source: core.replace(signature, signature.replace(" {", "\n    {")), warning: /CoreV1Api\.js .*class CoreV1ApiRequestFactory: unexpected line \d+: async readNamespacedService\(name, namespace, pretty, _options\) \(see / },
      { what: "a class split", file: "types/ObjectParamAPI.js", source: lines.join("\n"), warning: /ObjectParamAPI\.js .*class ObjectCoreV1Api: no method .*\breadNamespacedService\b/ },
    ];
    for (const { what, file, source, warning } of changes) {
      const { code, whole, warnings } = await loadGenerated(file, source);
      assert.equal(code, whole, `${what}: not the whole file`);
      assert.equal(warnings.length, 1, what);
      assert.match(warnings[0]!, warning, what);
    }
  });

  it("keeps the shapes an AWS command needs when it drops the client's others", async () => {
    const body = await bundle.describeInstancesRequest();
    assert.match(body, /Action=DescribeInstances/);
    assert.match(body, /Filter\.1\.Name=tag%3Arole/);
    assert.match(body, /Filter\.1\.Value\.1=db/);
    assert.match(body, /MaxResults=5/);
  });
});
