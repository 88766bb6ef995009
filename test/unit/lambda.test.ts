// infra/lambda.ts: what `sls package` refuses because a Lambda could not run it (a cluster it is not in, a file the
// bundle leaves out, a config outside the bundle), and the schedule it derives from syncIntervalSeconds. The
// files are real, in a temporary service folder. test/e2e/package.test.ts runs the same refusals in `sls package`.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { stringify } from "yaml";
import { loadConfig } from "../../functions/config/load.ts";
import { bundle, checkPackage, lambdaProblems, PackageError, scheduleRate, syncSchedule } from "../../infra/lambda.ts";

const ROOT = join(import.meta.dirname, "../..");
let service: string;

/** A service folder holding these files (path → text). */
async function serviceWith(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "ees-lambda-"));
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(dir, path, ".."), { recursive: true });
    await writeFile(join(dir, path), text);
  }
  return dir;
}

const target = (extra: Record<string, unknown> = {}) => ({
  name: "db",
  cluster: "prod",
  namespace: "n",
  service: "db",
  ports: [{ port: 5432 }],
  sources: [{ static: [{ address: "192.0.2.1" }] }],
  ...extra,
});

/** The problems of a config written at `config/app.yaml` in the service folder, with these package.patterns. */
async function problemsOf(config: Record<string, unknown>, patterns: string[]): Promise<string[]> {
  const path = join(service, "config/app.yaml");
  await writeFile(path, stringify(config));
  return lambdaProblems(await loadConfig(path), bundle(service, patterns));
}

before(async () => {
  service = await serviceWith({ "config/kube.yaml": "apiVersion: v1\n", "config/members.txt": "192.0.2.2\n", "config/ca.pem": "", "config/secret/key.pem": "" });
});

describe("bundle", () => {
  it("holds the files package.patterns match, in order: a later !pattern leaves out what an earlier one took in", () => {
    const { place } = bundle(service, ["config/**", "!config/secret/**"]);
    assert.deepEqual(place(join(service, "config/kube.yaml")), { in: true });
    assert.deepEqual(place(join(service, "config/secret/key.pem")), { in: false, why: "package.patterns in serverless.yml does not bundle config/secret/key.pem" });
    assert.deepEqual(bundle(service, ["config/kube.yaml"]).place(join(service, "config/ca.pem")), { in: false, why: "package.patterns in serverless.yml does not bundle config/ca.pem" });
  });

  it("holds nothing outside the service folder, and no file that does not exist", () => {
    assert.deepEqual(bundle(service, ["**"]).place("/etc/hostname"), { in: false, why: `it is outside the service folder ${service}, and so not in the bundle` });
    assert.deepEqual(bundle(service, ["**"]).place(join(service, "config/gone.yaml")), { in: false, why: "config/gone.yaml is no file" });
    assert.deepEqual(bundle(service, ["**"]).place(join(service, "config")), { in: false, why: "config is no file" });
  });
});

describe("lambdaProblems", () => {
  it("passes clusters a Lambda reaches: EKS, stored kubeconfigs, an inline one, a bundled file", async () => {
    const config = {
      clusters: [
        { name: "prod", eks: { name: "prod", region: "eu-west-1" } },
        { name: "ssm", kubeconfigParameter: { name: "/k", region: "eu-west-1" } },
        { name: "sm", kubeconfigSecret: { id: "k", region: "eu-west-1" } },
        { name: "inline", kubeconfigData: "apiVersion: v1\n" },
        { name: "file", kubeconfig: "kube.yaml" },
      ],
      targets: [target({ sources: [{ file: { path: "members.txt" } }], check: { https: { caFile: "ca.pem" } } })],
    };
    assert.deepEqual(await problemsOf(config, ["config/**"]), []);
  });

  it("refuses inCluster, a cluster with no way to reach it, and a kubeconfig file outside the bundle, naming the entry and field", async () => {
    const config = {
      clusters: [{ name: "prod", inCluster: true }, { name: "laptop" }, { name: "home", kubeconfig: "~/.kube/config" }, { name: "left-out", kubeconfig: "kube.yaml" }],
      targets: [target()],
    };
    const reach = "name it by eks: { name, region }, or keep its kubeconfig in kubeconfigParameter (SSM) or kubeconfigSecret (Secrets Manager)";
    assert.deepEqual(await problemsOf(config, ["config/app.yaml"]), [
      `clusters[0] (prod).inCluster: true: a Lambda runs in no cluster; ${reach} (inCluster is for a syncer running in a pod)`,
      `clusters[1] (laptop): names no way to reach the cluster, so it would read KUBECONFIG or ~/.kube/config, which a Lambda does not have; ${reach}`,
      `clusters[2] (home).kubeconfig: ${join(process.env.HOME ?? "", ".kube/config")}: it is outside the service folder ${service}, and so not in the bundle; put the file in the service folder and add it to package.patterns, or ${reach}`,
      `clusters[3] (left-out).kubeconfig: ${join(service, "config/kube.yaml")}: package.patterns in serverless.yml does not bundle config/kube.yaml; put the file in the service folder and add it to package.patterns, or ${reach}`,
    ]);
  });

  it("refuses a bundled kubeconfig's files the bundle leaves out, and plugin commands a Lambda does not have", async () => {
    const kubeconfig = (user: Record<string, unknown>, cluster: Record<string, unknown> = {}) =>
      stringify({ clusters: [{ name: "k", cluster: { server: "https://192.0.2.9", ...cluster } }], users: [{ name: "u", user }], contexts: [{ name: "k", context: { cluster: "k", user: "u" } }], "current-context": "k" });
    await writeFile(join(service, "config/kind.yaml"), kubeconfig({ "client-certificate": "certs/client.crt", "client-key": "/etc/client.key", "token-file": "config/token" }, { "certificate-authority": "ca.pem" }));
    await writeFile(join(service, "config/eks.yaml"), kubeconfig({ exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "aws", args: ["eks", "get-token", "--cluster-name", "prod"] } }));
    await writeFile(join(service, "config/node.yaml"), kubeconfig({ exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "node", args: ["config/token.mjs"] } }));
    await writeFile(join(service, "config/script.yaml"), kubeconfig({ exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "./bin/token" } }));
    const config = {
      clusters: ["kind", "eks", "node", "script"].map((name) => ({ name, kubeconfig: `${name}.yaml` })),
      targets: [target({ cluster: "kind" })],
    };
    const at = (name: string) => `clusters[${["kind", "eks", "node", "script"].indexOf(name)}] (${name}).kubeconfig: ${join(service, `config/${name}.yaml`)}`;
    const bundleIt = "put the file in the service folder and add it to package.patterns";
    assert.deepEqual(await problemsOf(config, ["config/*.yaml", "config/ca.pem"]), [
      `${at("kind")}: users[0].user.client-certificate: ${join(service, "config/certs/client.crt")}: package.patterns in serverless.yml does not bundle config/certs/client.crt; ${bundleIt}`,
      `${at("kind")}: users[0].user.client-key: /etc/client.key: it is outside the service folder ${service}, and so not in the bundle; ${bundleIt}`,
      // As client-node reads it: relative to the working directory, which deployed is the bundle's root.
      `${at("kind")}: users[0].user.token-file: ${join(service, "config/token")}: package.patterns in serverless.yml does not bundle config/token; ${bundleIt}`,
      `${at("eks")}: users[0].user.exec.command: aws: a Lambda has no such command (node is the one on its PATH); for EKS, name it by eks: { name, region }, or keep its kubeconfig in kubeconfigParameter (SSM) or kubeconfigSecret (Secrets Manager)`,
      `${at("script")}: users[0].user.exec.command: ${join(service, "bin/token")}: package.patterns in serverless.yml does not bundle bin/token; ${bundleIt}`,
    ]);
  });

  it("refuses a file source and a check's CA, certificate and key files the bundle leaves out, wherever the check has them", async () => {
    const tls = { caFile: "ca.pem", certFile: "/etc/client.pem", keyFile: "secret/key.pem" };
    const config = {
      clusters: [{ name: "prod", eks: { name: "prod", region: "eu-west-1" } }],
      targets: [target({ sources: [{ static: [{ address: "192.0.2.1" }] }, { file: { path: "gone.txt" } }], check: [{ tcp: {} }, { grpc: { tls } }] })],
    };
    const bundleIt = "put the file in the service folder and add it to package.patterns";
    const orPem = `${bundleIt}, or give its PEM text (caPem, certPem, keyPem)`;
    assert.deepEqual(await problemsOf(config, ["config/*", "!config/ca.pem"]), [
      `targets[0] (db).sources[1].file.path: ${join(service, "config/gone.txt")}: config/gone.txt is no file; ${bundleIt}`,
      `targets[0] (db).check[1].grpc.tls.caFile: ${join(service, "config/ca.pem")}: package.patterns in serverless.yml does not bundle config/ca.pem; ${orPem}`,
      `targets[0] (db).check[1].grpc.tls.certFile: /etc/client.pem: it is outside the service folder ${service}, and so not in the bundle; ${orPem}`,
      `targets[0] (db).check[1].grpc.tls.keyFile: ${join(service, "config/secret/key.pem")}: package.patterns in serverless.yml does not bundle config/secret/key.pem; ${orPem}`,
    ]);
  });
});

describe("checkPackage", () => {
  it("passes serverless.yml's default config, bundled as its package.patterns bundle it", async () => {
    await checkPackage(ROOT, ["infra/examples/eks-etcd.yaml"], "infra/examples/eks-etcd.yaml", 60);
  });

  it("refuses every other example: they run in a cluster (inCluster) or from a kubeconfig in ~", async () => {
    const examples = (await readdir(join(ROOT, "infra/examples"))).filter((name) => name.endsWith(".yaml") && name !== "eks-etcd.yaml");
    assert.ok(examples.length >= 4);
    for (const name of examples) {
      const file = `infra/examples/${name}`;
      await assert.rejects(checkPackage(ROOT, [file], file, 60), (error: Error) => error instanceof PackageError && error.message.startsWith(`${file} names what a Lambda cannot use:\n  - clusters[0] `));
    }
  });

  it("refuses what the functions would refuse when they load the config: fast detection past their timeout, more probes than Lambda's open files", async () => {
    const dir = await serviceWith({ "c.yaml": stringify({ checkConcurrency: 1000, syncIntervalSeconds: 120, fastDetection: { forSeconds: 90 }, clusters: [{ name: "prod", eks: { name: "prod", region: "eu-west-1" } }], targets: [] }) });
    await assert.rejects(checkPackage(dir, ["c.yaml"], "c.yaml", 60), {
      name: "ConfigError",
      message: [
        `invalid config ${join(dir, "c.yaml")}:`,
        "  - fastDetection.forSeconds: expected less than the sync function's timeout (60 s), got 90",
        "  - checkConcurrency: expected at most 924: 1000 probes at once hold as many sockets, this process may open 1024 files (ulimit -n), and 100 are kept for other than probes, got 1000",
      ].join("\n"),
    });
  });

  it("refuses a config the functions would read from outside the bundle (EES_CONFIG set when packaging)", async () => {
    const outside = await serviceWith({ "mine.yaml": stringify({ clusters: [{ name: "prod", eks: { name: "prod", region: "eu-west-1" } }], targets: [] }) });
    const configFile = join(outside, "mine.yaml");
    await assert.rejects(checkPackage(service, ["config/**"], configFile, 60), {
      name: "PackageError",
      message: `EES_CONFIG: ${configFile}: it is outside the service folder ${service}, and so not in the bundle; name a config file inside the service folder with --param configFile=PATH (and leave EES_CONFIG unset: it overrides configFile)`,
    });
  });
});

describe("the schedule, from syncIntervalSeconds", () => {
  it("is an EventBridge rate in whole minutes", () => {
    assert.equal(scheduleRate(60, "c.yaml"), "rate(1 minute)");
    assert.equal(scheduleRate(120, "c.yaml"), "rate(2 minutes)");
    assert.equal(scheduleRate(86_400, "c.yaml"), "rate(1440 minutes)");
  });

  it("refuses an interval no schedule can express, naming the nearest that can", () => {
    const refusal = (seconds: number, nearest: string) =>
      new PackageError(`c.yaml: syncIntervalSeconds: ${seconds}: the sync function's schedule (an EventBridge rate) runs in whole minutes; set it to a multiple of 60 (${nearest})`);
    assert.throws(() => scheduleRate(90, "c.yaml"), refusal(90, "60 or 120"));
    assert.throws(() => scheduleRate(30, "c.yaml"), refusal(30, "60"));
    assert.throws(() => scheduleRate(1, "c.yaml"), refusal(1, "60"));
  });

  it("comes with the interval it stands for, from the config file (the default, 60, when it names none)", async () => {
    const dir = await serviceWith({ "a.yaml": stringify({ syncIntervalSeconds: 300, clusters: [{ name: "c" }], targets: [] }), "b.yaml": stringify({ clusters: [{ name: "c" }], targets: [] }) });
    assert.deepEqual(await syncSchedule(dir, "a.yaml"), { rate: "rate(5 minutes)", seconds: "300" });
    assert.deepEqual(await syncSchedule(dir, "b.yaml"), { rate: "rate(1 minute)", seconds: "60" });
  });
});
