// Many clusters in one run, as a Lambda keeps them: clients made once, then one cluster goes down and
// another refuses our credentials. Each failure stays with its own cluster's targets, with a clear reason.
import assert from "node:assert/strict";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { runSync } from "../../functions/engine/run.ts";
import { ClusterConnections } from "../../functions/kube/client.ts";
import { selectorlessService, startTestCluster, testConfig, type TestCluster } from "../harness/cluster.ts";

const NAMESPACE = "ees-many";
let steady: TestCluster;
let doomed: TestCluster;

before(async () => {
  [steady, doomed] = await Promise.all([startTestCluster([NAMESPACE]), startTestCluster([NAMESPACE])]);
  for (const cluster of [steady, doomed]) {
    for (const name of ["a", "b"]) {
      await cluster.admin.core.createNamespacedService({ namespace: NAMESPACE, body: selectorlessService(NAMESPACE, name, [{ name: "tcp", port: 9000 }]) });
    }
  }
});
after(async () => {
  await Promise.all([steady?.stop(), doomed?.stop()]);
});

// Never probed (check: none): the addresses only have to be valid.
const target = (cluster: string, service: string) => ({
  name: `${cluster}-${service}`,
  cluster,
  namespace: NAMESPACE,
  service,
  ports: [{ name: "tcp", port: 9000 }],
  sources: [{ static: [{ address: "192.0.2.40" }] }],
  check: { none: {} },
});

describe("several clusters in one run", () => {
  it("fails only the targets of a cluster that went down, or that refuses us, and says why", async () => {
    const forged = join(steady.local.dir, "forged.kubeconfig");
    const kubeconfig = await readFile(steady.kubeconfig, "utf8");
    await writeFile(forged, kubeconfig.replace(/token: .*/, "token: not-a-valid-token"));
    const config = testConfig({
      clusters: [
        { name: "steady", kubeconfig: steady.kubeconfig },
        { name: "doomed", kubeconfig: doomed.kubeconfig },
        { name: "refusing", kubeconfig: forged },
      ],
      targets: [target("steady", "a"), target("steady", "b"), target("doomed", "a"), target("doomed", "b")],
    });
    await steady.grant(config);
    await doomed.grant(config);
    // Made once, as per cold start, and kept while a cluster dies underneath.
    const connections = new ClusterConnections(config.clusters);
    const first = await runSync(config, connections);
    assert.deepEqual(first.targets.map((report) => report.status), ["synced", "synced", "synced", "synced"]);

    await doomed.stop();
    const second = await runSync({ ...config, targets: [...config.targets, { ...config.targets[0]!, name: "refusing-a", cluster: "refusing" }] }, connections);
    const outcome = Object.fromEntries(second.targets.map((report) => [report.target, [report.status, report.error ?? ""]]));
    assert.deepEqual(outcome["steady-a"], ["unchanged", ""]);
    assert.deepEqual(outcome["steady-b"], ["unchanged", ""]);
    assert.equal(outcome["doomed-a"]![0], "failed");
    assert.match(outcome["doomed-a"]![1]!, /ECONNREFUSED 127\.0\.0\.1:\d+/);
    assert.equal(outcome["doomed-b"]![0], "failed");
    assert.equal(outcome["refusing-a"]![0], "failed");
    assert.match(outcome["refusing-a"]![1]!, /HTTP 401/);
    assert.equal(second.ok, false);
    const pruneErrors = Object.fromEntries(second.pruned.map((prune) => [prune.cluster, prune.error ?? ""]));
    assert.equal(pruneErrors.steady, "");
    assert.match(pruneErrors.doomed!, /ECONNREFUSED/);
  });
});
