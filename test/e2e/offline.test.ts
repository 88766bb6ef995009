// The functions as serverless offline runs them (esbuild bundles, the HTTP event, the Lambda invoke API),
// syncing into a real API server.
//
// Cases: POST /sync without credentials and with a wrong token is 401 and writes nothing; a bad body is 400
// with the reason; an unknown target is 404; a good request syncs; a dry run writes nothing; the scheduled
// function, invoked through the Lambda API, syncs every target, returns a summary per target, and logs JSON
// lines and metrics (EMF) per target.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import { eventually, selectorlessService, startTestCluster, type TestCluster } from "../harness/cluster.ts";

const NAMESPACE = "ees-e2e";
const TOKEN = "e2e-token-0123456789";
const HTTP_PORT = 3310;
const LAMBDA_PORT = 3312;
const ROOT = join(import.meta.dirname, "../..");

let cluster: TestCluster;
let offline: ChildProcess;
let output = "";

before(async () => {
  cluster = await startTestCluster([NAMESPACE]);
  for (const name of ["alpha", "beta"]) {
    await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, name, [{ name: "http", port: 80 }]) });
  }
  const configPath = join(cluster.local.dir, "e2e.yaml");
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
  await writeFile(configPath, stringify({ clusters: [{ name: "local", kubeconfig: cluster.kubeconfig }], targets: [target("alpha", "192.0.2.10"), target("beta", "192.0.2.20")] }));

  offline = spawn(join(ROOT, "node_modules/.bin/sls"), ["offline", "start"], {
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

async function postSync(body: string, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) {
  const response = await fetch(`http://127.0.0.1:${HTTP_PORT}/sync`, { method: "POST", headers, body });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function ourSlices(service: string) {
  const list = await cluster.admin.discovery.listNamespacedEndpointSlice({ namespace: NAMESPACE, labelSelector: `kubernetes.io/service-name=${service}` });
  return list.items;
}

describe("the functions under serverless offline", () => {
  it("refuses a request without credentials or with a wrong token, and triggers nothing", async () => {
    const mark = await cluster.auditMark();
    const anonymous = await postSync("{}", {});
    assert.equal(anonymous.status, 401);
    const wrong = await postSync("{}", { authorization: "Bearer not-the-token" });
    assert.equal(wrong.status, 401);
    assert.equal(JSON.stringify(wrong.body).includes(TOKEN), false, "the token never appears in a response");
    assert.deepEqual(await cluster.syncerWritesSince(mark), []);
    assert.deepEqual(await ourSlices("alpha"), []);
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

  it("answers an unknown target with 404", async () => {
    const response = await postSync(JSON.stringify({ targets: ["alpha", "gamma"] }));
    assert.equal(response.status, 404);
    assert.deepEqual(response.body.targets, ["gamma"]);
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
