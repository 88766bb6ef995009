// infra/esbuild-plugins.ts, on a bundle made as the functions' are: client-node's auth-provider plugins still
// authenticate through their stand-ins and load only when used, as does socks; the narrowed Kubernetes APIs carry
// exactly the methods listed in functions/kube/api-methods.ts; the AWS SDK clients keep the shapes their commands
// need.
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { pathToFileURL } from "node:url";
import * as esbuild from "esbuild";
import plugins from "../../infra/esbuild-plugins.ts";
import { CORE_V1_METHODS, DISCOVERY_V1_METHODS } from "../../functions/kube/api-methods.ts";
import { SocksClient } from "../../functions/kube/client-node-lazy.ts";

const ROOT = path.join(import.meta.dirname, "../..");

// Runs inside the bundle: what each kind of kubeconfig user sends, and the APIs' methods.
const ENTRY = `
import { CoreV1Api, DiscoveryV1Api, KubeConfig, createConfiguration, ServerConfiguration } from "./functions/kube/client-node.ts";
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
  describeInstancesRequest(): Promise<string>;
};
let metafile: esbuild.Metafile;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ees-plugins-"));
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    stdin: { contents: ENTRY, resolveDir: ROOT, sourcefile: "entry.js", loader: "js" },
    outdir: dir,
    entryNames: "entry",
    bundle: true,
    format: "esm",
    platform: "node",
    target: "node22",
    splitting: true,
    mainFields: ["module", "main"],
    outExtension: { ".js": ".mjs" },
    banner: { js: "import { createRequire } from 'module'; const require = createRequire(import.meta.url);" },
    plugins,
    metafile: true,
    logLevel: "error",
  });
  metafile = result.metafile;
  bundle = await import(pathToFileURL(path.join(dir, "entry.mjs")).href);
});

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

  it("keeps the shapes an AWS command needs when it drops the client's others", async () => {
    const body = await bundle.describeInstancesRequest();
    assert.match(body, /Action=DescribeInstances/);
    assert.match(body, /Filter\.1\.Name=tag%3Arole/);
    assert.match(body, /Filter\.1\.Value\.1=db/);
    assert.match(body, /MaxResults=5/);
  });
});
