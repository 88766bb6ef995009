// The file source through the whole pipeline into a real kube-apiserver, as the syncer's least-privilege user.
// Addresses are documentation ones (192.0.2.0/24, 2001:db8::/32) with `check: { none: {} }`: nothing is probed.
//
// Cases: a file's addresses and hostnames are published; an edit is picked up by the next run; a bad line and
// then a missing file fail the source, which keeps what it published (no endpoint writes); a fixed file
// publishes again.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startTestCluster, type TestCluster } from "../harness/cluster.ts";
import { endpointWritesSince, targetSyncer, type TargetSyncer } from "../harness/target-sync.ts";

const NAMESPACE = "ees-src-file";
const PORT = 2379;

let cluster: TestCluster;
let syncer: TargetSyncer;
let dir: string;

before(async () => {
  [cluster, dir] = await Promise.all([startTestCluster([NAMESPACE]), mkdtemp(join(tmpdir(), "ees-src-file-"))]);
  syncer = targetSyncer(cluster, NAMESPACE);
});

after(async () => {
  await cluster?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("file source into a real API server", () => {
  it("publishes the file's addresses, picks up an edit next run, and keeps what it published while the file is broken or gone", async () => {
    const path = join(dir, "etcd.txt");
    const target = { name: "etcd", service: "etcd", ports: [{ name: "client", port: PORT }], sources: [{ name: "list", file: { path } }], check: { none: {} } };
    await syncer.createService("etcd", [{ name: "client", port: PORT }]);
    const sourceOf = (report: Awaited<ReturnType<TargetSyncer["sync"]>>) => report.targets[0]!.sources[0]!;

    await writeFile(path, "# etcd members\n192.0.2.10 etcd-a\n192.0.2.11 etcd-b\n2001:db8::12\n");
    const first = await syncer.syncOk([target]);

    assert.deepEqual(sourceOf(first), { name: "list", status: "ok", found: 3 });
    const published = await syncer.published("etcd");
    assert.deepEqual(
      Object.entries(published).map(([address, endpoint]) => [address, endpoint.hostname, endpoint.ports]),
      [
        ["192.0.2.10", "etcd-a", `client:${PORT}`],
        ["192.0.2.11", "etcd-b", `client:${PORT}`],
        ["2001:db8::12", undefined, `client:${PORT}`],
      ],
    );

    await writeFile(path, "192.0.2.11 etcd-b\n192.0.2.13 etcd-d\n2001:db8::12\n");
    await syncer.syncOk([target]);

    assert.deepEqual(Object.keys(await syncer.published("etcd")), ["192.0.2.11", "192.0.2.13", "2001:db8::12"]);
    const edited = await syncer.published("etcd");

    await writeFile(path, "192.0.2.11 etcd-b\n192.0.2.13 etcd-d\netcd-e.example.com\n");
    let mark = await cluster.auditMark();
    const broken = await syncer.sync([target]);

    assert.deepEqual(sourceOf(broken), {
      name: "list",
      status: "failed",
      found: 0,
      error: `${path} line 3: expected an IPv4 or IPv6 address, got "etcd-e.example.com"`,
    });
    assert.deepEqual(await syncer.published("etcd"), edited, "the failed source keeps what it published");
    assert.deepEqual(await endpointWritesSince(cluster, mark), []);

    await rm(path);
    mark = await cluster.auditMark();
    const gone = await syncer.sync([target]);

    assert.equal(sourceOf(gone).error, `cannot read ${path}: ENOENT`);
    assert.deepEqual(await syncer.published("etcd"), edited);
    assert.deepEqual(await endpointWritesSince(cluster, mark), []);

    await writeFile(path, "192.0.2.13 etcd-d\n");
    await syncer.syncOk([target]);

    assert.deepEqual(Object.keys(await syncer.published("etcd")), ["192.0.2.13"]);
  });
});
