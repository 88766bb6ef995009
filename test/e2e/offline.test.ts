// The functions as serverless offline runs them (esbuild bundles, the HTTP event, the Lambda invoke API),
// syncing into a real API server.
//
// Cases: while the config cannot load, POST /sync is 500 with a JSON reason that quotes nothing of the file,
// and once it is fixed the next request loads it; without credentials, with a wrong token or with a bare token
// (no `Bearer `) it is 401 and writes nothing; a body over 64 KiB (the finding's 8.5 MB of names among them)
// is 413; a base64 body (application/octet-stream, which serverless offline encodes) is decoded; a bad body is
// 400 with the reason, and thousands of names are refused in a short answer; an unknown target is 404, and the
// most unknown names a request may carry come back as 20 names and a count; a good request syncs; a dry run
// writes nothing; the scheduled function, invoked through the Lambda API, syncs every target, returns a summary
// per target, and logs JSON lines and metrics (EMF) per target.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import { eventually, selectorlessService, startTestCluster, testConfig, type TestCluster } from "../harness/cluster.ts";

const NAMESPACE = "ees-e2e";
const TOKEN = "e2e-token-0123456789";
const HTTP_PORT = 3310;
const LAMBDA_PORT = 3312;
const ROOT = join(import.meta.dirname, "../..");
// Seeded into the broken config: it must not come back in a response or a log line.
const SECRET = "SEEDED-SECRET-e2e-4b1d";

let cluster: TestCluster;
let offline: ChildProcess;
let output = "";
let configPath: string;
let goodConfig: string;

before(async () => {
  cluster = await startTestCluster([NAMESPACE]);
  for (const name of ["alpha", "beta"]) {
    await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, name, [{ name: "http", port: 80 }]) });
  }
  configPath = join(cluster.local.dir, "e2e.yaml");
  // Never probed (check: none): documentation-range addresses that only have to be valid.
  const target = (name: string, address: string) => ({
    name,
    cluster: "local",
    namespace: NAMESPACE,
    service: name,
    ports: [{ name: "http", port: 80 }],
    sources: [{ static: [{ address }] }],
    check: { none: {} },
  });
  const good = { clusters: [{ name: "local", kubeconfig: cluster.kubeconfig }], targets: [target("alpha", "192.0.2.10"), target("beta", "192.0.2.20")] };
  goodConfig = stringify(good);
  await cluster.grant(testConfig(good));
  // Broken until the first test fixes it: a config the handler failed to load is read again on the next request,
  // while one it loaded stays for the worker's life, so this is the way to reach the failure on one instance.
  const broken = { ...target("alpha", "192.0.2.10"), namespace: "Not A Label", check: { tls: { certPem: SECRET, keyPem: SECRET } } };
  await writeFile(configPath, stringify({ clusters: [{ name: "local", kubeconfig: cluster.kubeconfig }], targets: [broken] }));

  // No schedule: a run firing at a minute's start would write while a test asserts that nothing does. The
  // scheduled function is invoked through the Lambda API instead.
  offline = spawn(join(ROOT, "node_modules/.bin/sls"), ["offline", "start", "--param=syncSchedule=false"], {
    cwd: ROOT,
    env: { ...process.env, EES_CONFIG: configPath, SYNC_TRIGGER_TOKEN: TOKEN, OFFLINE_HTTP_PORT: String(HTTP_PORT), OFFLINE_LAMBDA_PORT: String(LAMBDA_PORT) },
    stdio: ["ignore", "pipe", "pipe"],
  });
  offline.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  offline.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const up = await eventually(
    () => fetch(`http://127.0.0.1:${HTTP_PORT}/`).then(() => true, () => offline.exitCode !== null),
    (done) => done,
    60_000,
  );
  assert.ok(up && offline.exitCode === null, `serverless offline did not start:\n${output}`);
});

after(async () => {
  offline?.kill("SIGTERM");
  await cluster?.stop();
});

async function postSync(body: string | Buffer, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) {
  const response = await fetch(`http://127.0.0.1:${HTTP_PORT}/sync`, { method: "POST", headers, body });
  const text = await response.text();
  return { status: response.status, body: JSON.parse(text) as Record<string, unknown>, bytes: Buffer.byteLength(text) };
}

async function ourSlices(service: string) {
  const list = await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: `kubernetes.io/service-name=${service}` });
  return list.items;
}

describe("the functions under serverless offline", () => {
  // First: every test after it needs the fixed config.
  it("answers 500 with a JSON reason while the config cannot load, and loads it once fixed", async () => {
    const failed = await postSync(JSON.stringify({ targets: ["alpha"], dryRun: true }));
    assert.equal(failed.status, 500);
    assert.equal(failed.body.error, "config unavailable");
    assert.match(String(failed.body.reason), /^invalid config .*e2e\.yaml:/);
    assert.match(String(failed.body.reason), /targets\[0\]\.namespace: expected a DNS label/);
    assert.equal(JSON.stringify(failed.body).includes(SECRET), false, "nothing of the file's secrets in the response");
    assert.equal(output.includes(SECRET), false, "nor in the log");

    await writeFile(configPath, goodConfig);
    const fixed = await postSync(JSON.stringify({ targets: ["alpha"], dryRun: true }));
    assert.equal(fixed.status, 200, JSON.stringify(fixed.body));
  });

  it("refuses a request without credentials, with a wrong token or without the Bearer scheme, and triggers nothing", async () => {
    const mark = await cluster.auditMark();
    const anonymous = await postSync("{}", {});
    assert.equal(anonymous.status, 401);
    const wrong = await postSync("{}", { authorization: "Bearer not-the-token" });
    assert.equal(wrong.status, 401);
    assert.equal(JSON.stringify(wrong.body).includes(TOKEN), false, "the token never appears in a response");
    const bare = await postSync("{}", { authorization: TOKEN });
    assert.equal(bare.status, 401);
    assert.equal(bare.body.reason, "expected Authorization: Bearer <token>");
    assert.deepEqual(await cluster.syncerWritesSince(mark), []);
    assert.deepEqual(await ourSlices("alpha"), []);
    // The scheme's case does not matter (RFC 7235): this one gets as far as the target names.
    const lowerCase = await postSync(JSON.stringify({ targets: ["gamma"] }), { authorization: `bearer ${TOKEN}` });
    assert.equal(lowerCase.status, 404);
  });

  it("answers 413 for a body over 64 KiB, before reading it", async () => {
    const mark = await cluster.auditMark();
    // The finding: 8.5 MB of unknown names came back as an 8.5 MB 404, past Lambda's 6 MB response limit.
    const names = JSON.stringify({ targets: Array.from({ length: 130_000 }, (_, index) => `unknown-${index}-${"x".repeat(50)}`) });
    assert.ok(names.length > 8_500_000, `${names.length} bytes`);
    const huge = await postSync(names);
    assert.equal(huge.status, 413);
    assert.deepEqual(huge.body, { error: "body too large", reason: `the body is ${names.length} bytes, over the limit of 65536` });
    const justOver = await postSync(`{"dryRun":true${" ".repeat(65_537 - 15)}}`);
    assert.equal(justOver.status, 413);
    assert.deepEqual(await cluster.syncerWritesSince(mark), []);
  });

  it("decodes a base64 body (serverless offline encodes application/octet-stream), and limits its decoded size", async () => {
    const binary = { authorization: `Bearer ${TOKEN}`, "content-type": "application/octet-stream" };
    const dry = await postSync(Buffer.from(JSON.stringify({ targets: ["alpha"], dryRun: true })), binary);
    assert.equal(dry.status, 200, JSON.stringify(dry.body));
    assert.deepEqual((dry.body.targets as { target: string; status: string }[]).map((target) => [target.target, target.status]), [["alpha", "planned"]]);
    const over = await postSync(Buffer.alloc(65_537, " "), binary);
    assert.equal(over.status, 413);
    assert.match(String(over.body.reason), /^the body is 65537 bytes/);
  });

  it("answers a bad body with 400 and the reason", async () => {
    const notJson = await postSync("{targets:");
    assert.equal(notJson.status, 400);
    assert.match(String((notJson.body.problems as string[])[0]), /body is not JSON/);
    const wrongShape = await postSync(JSON.stringify({ targets: "alpha", hosts: ["10.0.0.1"] }));
    assert.equal(wrongShape.status, 400);
    const problems = wrongShape.body.problems as string[];
    assert.ok(problems.some((problem) => problem.startsWith("targets:")), problems.join("; "));
    assert.ok(problems.some((problem) => problem.includes('unknown key "hosts"')), problems.join("; "));
  });

  it("refuses thousands of target names in a short answer", async () => {
    const response = await postSync(JSON.stringify({ targets: Array.from({ length: 5_000 }, (_, index) => `t${index}`) }));
    assert.equal(response.status, 400);
    assert.equal((response.body.problems as string[]).length, 1);
    assert.match(String((response.body.problems as string[])[0]), /^targets: expected at most 1000 target names, got \["t0","t1",.*\.\.\.$/);
    assert.ok(response.bytes < 500, `${response.bytes} bytes`);
  });

  it("answers unknown targets with 404, listing at most 20 of them and counting the rest", async () => {
    const response = await postSync(JSON.stringify({ targets: ["alpha", "gamma"] }));
    assert.equal(response.status, 404);
    assert.deepEqual(response.body, { error: "unknown target", targets: ["gamma"] });

    // The most a request may carry: 1,000 names of 56 characters, 62 KB.
    const unknown = Array.from({ length: 1_000 }, (_, index) => `unknown-${String(index).padStart(4, "0")}-${"x".repeat(43)}`);
    const many = await postSync(JSON.stringify({ targets: unknown }));
    assert.equal(many.status, 404);
    assert.deepEqual(many.body.targets, unknown.slice(0, 20));
    assert.equal(many.body.omitted, 980);
    assert.ok(many.bytes < 1_500, `${many.bytes} bytes`);
  });

  it("plans without writing on a dry run, then syncs only the named target", async () => {
    const mark = await cluster.auditMark();
    const dry = await postSync(JSON.stringify({ targets: ["alpha"], dryRun: true }));
    assert.equal(dry.status, 200);
    assert.deepEqual((dry.body.targets as { status: string }[]).map((target) => target.status), ["planned"]);
    assert.deepEqual(await cluster.syncerWritesSince(mark), []);

    const real = await postSync(JSON.stringify({ targets: ["alpha"] }));
    assert.equal(real.status, 200);
    assert.deepEqual((real.body.targets as { target: string; status: string }[]).map((target) => [target.target, target.status]), [["alpha", "synced"]]);
    assert.equal((await ourSlices("alpha"))[0]?.endpoints?.[0]?.addresses[0], "192.0.2.10");
    assert.deepEqual(await ourSlices("beta"), []);
  });

  it("runs the scheduled function through the Lambda invoke API, syncing every target", async () => {
    const response = await fetch(`http://127.0.0.1:${LAMBDA_PORT}/2015-03-31/functions/external-endpoint-syncer-dev-sync/invocations`, {
      method: "POST",
      body: JSON.stringify({ "detail-type": "Scheduled Event", source: "aws.events", detail: {} }),
    });
    assert.equal(response.status, 200);
    const summary = (await response.json()) as { ok: boolean; targets: { target: string; status: string }[] };
    assert.equal(summary.ok, true, JSON.stringify(summary));
    assert.deepEqual(summary.targets.map((target) => [target.target, target.status]), [["alpha", "unchanged"], ["beta", "synced"]]);
    assert.equal((await ourSlices("beta"))[0]?.endpoints?.[0]?.addresses[0], "192.0.2.20");
    assert.match(output, /"message":"target synced".*"function_request_id":"[^"]+".*"target":"beta"/, "a JSON line per target, with the invocation id");
    const metricSets = output.split("\n").filter((line) => line.includes('"_aws"')).map((line) => JSON.parse(line.slice(line.indexOf("{"))) as Record<string, unknown>);
    const beta = metricSets.find((set) => set.target === "beta" && "ReadyEndpoints" in set);
    assert.ok(beta, "an embedded-metric-format set per target");
    assert.equal(beta.ReadyEndpoints, 1);
    assert.equal(beta.cluster, "local");
  });
});
