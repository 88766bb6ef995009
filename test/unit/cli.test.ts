// The command line's parts that need no cluster: the grammar (a bad flag, value or command is a one-line reason
// and exit 2, per command options, -o and --log-level values, the removed --json), the usage naming every
// option of every command, --kubeconfig/--context checked by the config's own schema, and status's table
// from memory and published endpoints.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import type { V1ConfigMap } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { withAccess } from "../../functions/cli/access.ts";
import { parseCommandLine, type CommandSpec } from "../../functions/cli/args.ts";
import { formatStatusTable, targetStatus } from "../../functions/cli/status.ts";
import { COMMANDS, main, USAGE } from "../../functions/cli.ts";
import { loadConfig } from "../../functions/config/load.ts";
import { claimObjects } from "../../functions/registry/ownership.ts";
import { readMemory } from "../../functions/registry/remembered.ts";
import { encodeMemory } from "../../functions/registry/memory-codec.ts";
import { writerLabels } from "../../functions/registry/labels.ts";
import { testConfig } from "../harness/cluster.ts";

const SPECS: Record<string, CommandSpec> = {
  sync: { synopsis: "", summary: "", options: ["config", "dry-run", "target", "output", "kubeconfig", "context"] },
  rbac: { synopsis: "", summary: "", options: ["config", "group"] },
};

describe("parseCommandLine", () => {
  it("reads a command with its options, -o and --log-level", () => {
    const line = parseCommandLine(["sync", "--config", "c.yaml", "--target", "a", "--target=b", "-o", "yaml", "--log-level", "debug", "--dry-run"], SPECS);
    assert.equal(line.kind, "command");
    if (line.kind !== "command") return;
    assert.deepEqual([line.command, line.options.config, line.options.target, line.output, line.logLevel, line.options["dry-run"]], ["sync", "c.yaml", ["a", "b"], "yaml", "debug", true]);
    const plain = parseCommandLine(["sync", "--config=c.yaml"], SPECS);
    assert.deepEqual(plain.kind === "command" && [plain.output, plain.logLevel], ["table", undefined]);
  });

  it("gives a one-line reason for every kind of bad command line", () => {
    const cases: [string[], string][] = [
      [[], "expected a command: sync or rbac"],
      [["deploy", "--config", "c"], 'unknown command "deploy": expected sync or rbac'],
      [["toString", "--config", "c"], 'unknown command "toString": expected sync or rbac'],
      [["sync", "--config", "c", "--nope"], "Unknown option '--nope'"],
      [["sync", "--config"], "Option '--config <value>' argument missing"],
      [["sync", "--config", "c", "-o"], "Option '-o, --output <value>' argument missing"],
      [["sync"], "sync needs --config FILE"],
      [["sync", "--config", "c", "extra"], 'sync: unexpected argument "extra"'],
      [["rbac", "--config", "c", "--dry-run"], "rbac does not take --dry-run"],
      [["rbac", "--config", "c", "-o", "json"], "rbac does not take -o"],
      [["sync", "--config", "c", "-o", "xml"], '-o: expected table, json or yaml; got "xml"'],
      [["sync", "--config", "c", "--output=wide"], '-o: expected table, json or yaml; got "wide"'],
      [["sync", "--config", "c", "--log-level", "verbose"], '--log-level: expected debug, info, warn, error or silent; got "verbose"'],
      [["sync", "--config", "c", "--json"], "--json is gone: use -o json"],
      [["sync", "--config", "c", "--dry-run=yes"], "Option '--dry-run' does not take an argument"],
    ];
    for (const [argv, reason] of cases) assert.deepEqual(parseCommandLine(argv, SPECS), { kind: "usage", reason }, argv.join(" "));
  });

  it("answers --help and --version before anything else, and takes --log-level with every command", () => {
    assert.deepEqual(parseCommandLine(["sync", "--help"], SPECS), { kind: "help" });
    assert.deepEqual(parseCommandLine(["-h"], SPECS), { kind: "help" });
    assert.deepEqual(parseCommandLine(["--version"], SPECS), { kind: "version" });
    assert.equal(parseCommandLine(["rbac", "--config", "c", "--log-level", "silent"], SPECS).kind, "command");
  });
});

describe("main", () => {
  it("exits 2 with the reason and the usage on stderr for a bad flag", async (t) => {
    const errors: string[] = [];
    t.mock.method(console, "error", (text: string) => errors.push(text));
    assert.equal(await main(["status", "--config", "c.yaml", "--dry-run"]), 2);
    assert.deepEqual(errors, [`status does not take --dry-run\n\n${USAGE}`]);
  });

  it("exits 2 naming the flag and the value for a bad --every or --health-addr of run", async (t) => {
    const errors: string[] = [];
    t.mock.method(console, "error", (text: string) => errors.push(text));
    assert.equal(await main(["run", "--config", "c.yaml", "--every", "30"]), 2);
    assert.equal(await main(["run", "--config", "c.yaml", "--health-addr", "8080"]), 2);
    assert.deepEqual(errors, [
      `--every: expected a duration of whole seconds from 1s to 24h, such as 30s, 1m or 1m30s, got "30"\n\n${USAGE}`,
      `--health-addr: expected [HOST]:PORT, such as :8080 or 127.0.0.1:8080, got "8080"\n\n${USAGE}`,
    ]);
  });

  it("names in each command's synopsis exactly the options it takes, and explains each option", () => {
    const help = USAGE.split("\n\n")[2]!;
    for (const [name, command] of Object.entries(COMMANDS)) {
      const named = [...command.synopsis.matchAll(/(?<![\w-])(--?[a-z][a-z-]*)/g)].map((match) => (match[1] === "-o" ? "output" : match[1]!.slice(2)));
      assert.deepEqual(named.toSorted(), [...command.options].toSorted(), name);
      assert.ok(USAGE.includes(`external-endpoint-syncer ${name} ${command.synopsis}\n`), name);
      for (const option of command.options) assert.match(help, new RegExp(`^  (-o, )?--${option}\\b|, --${option}\\b`, "m"), `${option} is explained`);
    }
    for (const option of ["--log-level", "--version"]) assert.match(help, new RegExp(`^  ${option}\\b`, "m"));
  });
});

describe("withAccess (--kubeconfig, --context)", () => {
  const base = { targets: [{ name: "t", cluster: "only", namespace: "ns", service: "s", ports: [{ port: 1 }], sources: [{ static: [{ address: "192.0.2.1" }] }] }] };

  it("replaces the one entry's access with a kubeconfig file, relative to the working directory, and its context", () => {
    const config = testConfig({ ...base, clusters: [{ name: "only", kubeconfigData: "apiVersion: v1", allowAuthPlugins: true, context: "old" }] });
    assert.deepEqual(withAccess(config, { kubeconfig: "kube/dev.yaml" }, "c.yaml").clusters, [{ name: "only", kubeconfig: resolve("kube/dev.yaml") }]);
    assert.deepEqual(withAccess(config, { kubeconfig: "/k", context: "dev" }, "c.yaml").clusters, [{ name: "only", kubeconfig: "/k", context: "dev" }]);
  });

  it("keeps the entry's own kubeconfig, and its plugin rules, for --context alone", () => {
    const config = testConfig({ ...base, clusters: [{ name: "only", kubeconfigData: "apiVersion: v1", context: "old" }] });
    assert.deepEqual(withAccess(config, { context: "dev" }, "c.yaml").clusters, [{ name: "only", kubeconfigData: "apiVersion: v1", context: "dev" }]);
    assert.equal(withAccess(config, {}, "c.yaml"), config);
  });

  it("refuses a config with more than one cluster entry, and values the schema refuses, naming the flag, field and value", () => {
    const two = testConfig({ ...base, clusters: [{ name: "only" }, { name: "other" }] });
    assert.throws(() => withAccess(two, { context: "dev" }, "c.yaml"), { name: "UsageError", message: "--context: for a config with one cluster entry; c.yaml has 2 (only, other)" });
    const eks = testConfig({ ...base, clusters: [{ name: "only", eks: { name: "prod", region: "eu-west-1" } }] });
    assert.throws(() => withAccess(eks, { context: "dev" }, "c.yaml"), {
      message: '--context for cluster entry only of c.yaml: context: a context needs a kubeconfig, not inCluster or eks, got "dev"',
    });
    assert.throws(() => withAccess(eks, { kubeconfig: "", context: "" }, "c.yaml"), (error: Error) => /^--kubeconfig and --context for cluster entry only of c.yaml: kubeconfig: .*; context: /.test(error.message));
  });

  it("reads an entry's kubeconfig path from the config relative to the config, but the flag's from the working directory", async (t) => {
    const dir = await mkdtemp(join(tmpdir(), "ees-cli-"));
    t.after(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, "c.yaml"), stringify({ ...base, clusters: [{ name: "only", kubeconfig: "k.yaml" }] }));
    const config = await loadConfig(join(dir, "c.yaml"));
    assert.equal(config.clusters[0]!.kubeconfig, join(dir, "k.yaml"));
    assert.equal(withAccess(config, { kubeconfig: "k.yaml" }, "c.yaml").clusters[0]!.kubeconfig, resolve("k.yaml"));
  });
});

describe("status", () => {
  const writer = { ownerId: "default", installation: "default", cluster: "here" };
  const target = testConfig({
    clusters: [{ name: "here" }],
    targets: [{ name: "etcd", cluster: "here", namespace: "ns", service: "etcd", ports: [{ port: 2379 }], sources: [{ static: [{ address: "192.0.2.1" }] }] }],
  }).targets[0]!;
  const memoryConfigMap = (binaryData: string): V1ConfigMap => ({ metadata: { name: "etcd-ees-memory", namespace: "ns", labels: writerLabels(writer) }, binaryData: { "memory.json.gz": binaryData } });
  const since = "2026-11-30T10:00:00.000Z";
  const encoded = encodeMemory({
    backends: {
      "192.0.2.10": { sources: ["static[0]"], health: { healthy: true, streak: 1, reason: "Timeout", detail: "no answer within 2000 ms", since, probedAt: since } },
      "192.0.2.9": { sources: ["static[0]", "dns"], health: { healthy: false, streak: 0, reason: "ConnRefused", since, probedAt: since } },
      "192.0.2.11": { sources: ["static[0]"] },
    },
    trippedGuards: ["neverEmpty"],
  }).base64;
  const published = (endpoints: { address: string; ready: boolean }[]) => ({
    claimed: claimObjects([], undefined, writer, false),
    ours: claimObjects([], undefined, writer, false),
    published: endpoints.map((endpoint) => ({ ...endpoint, family: "IPv4" as const })),
    views: [],
  });

  it("lists every remembered or published backend with its health, streak, last reason, since and sources", () => {
    const status = targetStatus(
      target,
      { service: { metadata: { name: "etcd", namespace: "ns" } }, remembered: readMemory(memoryConfigMap(encoded), writer) },
      published([{ address: "192.0.2.10", ready: true }, { address: "192.0.2.9", ready: false }, { address: "192.0.2.99", ready: true }]),
    );
    assert.deepEqual(status.trippedGuards, ["neverEmpty"]);
    assert.deepEqual(formatStatusTable({ targets: [status] }).split("\n"), [
      "TARGET  ADDRESS     PUBLISHED  HEALTH     STREAK     LAST         SINCE                     SOURCES",
      "etcd    192.0.2.9   not ready  unhealthy  0          ConnRefused  2026-11-30T10:00:00.000Z  static[0],dns",
      "etcd    192.0.2.10  ready      healthy    1 failing  Timeout      2026-11-30T10:00:00.000Z  static[0]",
      "etcd    192.0.2.11  no         unchecked  -          -            -                         static[0]",
      "etcd    192.0.2.99  ready      unchecked  -          -            -                         -",
      "etcd: guards holding changes back: neverEmpty",
      "etcd: 192.0.2.10 Timeout: no answer within 2000 ms",
    ]);
  });

  it("says what it could not read or trust: a missing Service, a memory that is not ours or is garbage", () => {
    const foreign = { metadata: { name: "etcd-ees-memory", namespace: "ns", labels: { "app.kubernetes.io/managed-by": "helm" } }, binaryData: { "memory.json.gz": encoded } };
    const notOurs = targetStatus(target, { service: undefined, remembered: readMemory(foreign, writer) }, published([]));
    assert.deepEqual(notOurs.backends, []);
    assert.deepEqual(formatStatusTable({ targets: [notOurs] }).split("\n").slice(1), [
      "etcd: Service ns/etcd not found",
      "etcd: memory: memory ConfigMap ns/etcd-ees-memory is not ours (managed by helm), so it is left alone and rise/fall cannot be remembered: each backend takes this run's verdict",
      "etcd: nothing remembered or published",
    ]);
    const garbage = targetStatus(target, { service: { metadata: {} }, remembered: readMemory(memoryConfigMap(Buffer.from("not gzip").toString("base64")), writer) }, published([]));
    assert.match(garbage.memoryProblem ?? "", /unreadable .*starting afresh/);
    const unread = formatStatusTable({ targets: [{ target: "web", cluster: "here", namespace: "ns", service: "web", error: "HTTP 403", backends: [], foreign: [] }] });
    assert.deepEqual(unread.split("\n").slice(1), ["web: could not be read: HTTP 403"]);
  });
});
