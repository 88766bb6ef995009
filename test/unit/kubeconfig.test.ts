// Kubeconfig text parsed by us and given to client-node as objects: broken ones are refused by where they came
// from, a line and column or a field's path, never with what they hold; stored ones may not run plugins or
// read the syncer's files unless the cluster entry allows it.
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { stringify } from "yaml";
import { defaultKubeconfig, kubeconfigFromFile, kubeconfigFromText, KubeconfigError } from "../../functions/kube/kubeconfig.ts";

const SECRET = "S3CR3T-kubeconfig-unit-8e2d";
const stored = { cluster: "prod", where: "SSM parameter /ees/prod", stored: true };

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}) {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "c", cluster: { server: "https://192.0.2.1:6443", "certificate-authority-data": "Q0E=", ...cluster } }],
    users: [{ name: "u", user }],
    contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
    "current-context": "x",
  });
}

/** Throws a KubeconfigError whose message says `expected` and holds no piece of the secret. */
function refuses(text: string, expected: RegExp, origin: Parameters<typeof kubeconfigFromText>[1] = stored) {
  assert.throws(
    () => kubeconfigFromText(text, origin),
    (error: unknown) => {
      assert.ok(error instanceof KubeconfigError, String(error));
      assert.match(error.message, expected);
      assert.equal(error.message.includes(SECRET.slice(0, 8)), false, error.message);
      return true;
    },
  );
}

describe("kubeconfigFromText", () => {
  it("loads a kubeconfig as client-node would, from the parsed object", () => {
    const config = kubeconfigFromText(kubeconfig({ token: SECRET, "client-key-data": "a2V5", "client-certificate-data": "Y2VydA==" }), stored);
    assert.equal(config.getCurrentCluster()?.server, "https://192.0.2.1:6443");
    assert.equal(config.getCurrentCluster()?.caData, "Q0E=");
    assert.deepEqual(
      { token: config.getCurrentUser()?.token, keyData: config.getCurrentUser()?.keyData, certData: config.getCurrentUser()?.certData },
      { token: SECRET, keyData: "a2V5", certData: "Y2VydA==" },
    );
  });

  it("takes what kubectl writes for nothing: null lists and an empty current-context", () => {
    const config = kubeconfigFromText('apiVersion: v1\nkind: Config\nclusters: null\nusers: null\ncontexts: null\ncurrent-context: ""\npreferences: {}\n', stored);
    assert.deepEqual([config.getClusters(), config.getUsers(), config.getContexts(), config.getCurrentContext()], [[], [], [], undefined]);
  });

  it("refuses a token under a tag js-yaml rejects (`!vault`), by line and column", () => {
    refuses(kubeconfig({ token: "x" }).replace("token: x", `token: !vault ${SECRET}`), /^cluster prod: the kubeconfig from SSM parameter \/ees\/prod cannot be used: not valid YAML: line \d+, column \d+: tag resolve failed$/);
  });

  const broken: [string, string, RegExp][] = [
    ["a bad indent inside the user", kubeconfig({ token: "x" }).replace("token: x", `token: x\n   client-key-data: ${SECRET}`), /not valid YAML: line \d+, column \d+/],
    ["an unclosed quote", kubeconfig({ token: "x" }).replace("token: x", `token: "${SECRET}`), /not valid YAML: line \d+, column \d+: missing char/],
    ["an alias to no anchor", kubeconfig({ token: "x" }).replace("token: x", `token: *${SECRET}`), /an alias \(\*name\) names no anchor/],
    ["a token that is a number", kubeconfig({ token: 12345678 }), /users\.0\.user\.token: expected a string/],
    ["a token that is a list", kubeconfig({ token: [SECRET] }), /users\.0\.user\.token: expected a string/],
    ["a client key that is a mapping", kubeconfig({ "client-key-data": { [SECRET]: SECRET } }), /users\.0\.user\.client-key-data: expected a string/],
    ["a cluster without a server", kubeconfig({ token: SECRET }, { server: undefined }), /clusters\.0\.cluster\.server: expected a string/],
    ["a list at the top", stringify([{ token: SECRET }]), /not a YAML mapping/],
    ["a scalar at the top", SECRET, /not a YAML mapping/],
    ["a second document", `${kubeconfig({ token: "x" })}---\n${SECRET}\n`, /multiple docs/],
  ];
  for (const [name, text, expected] of broken) it(`refuses ${name}, without quoting it`, () => refuses(text, expected));

  it("refuses exec and auth-provider plugins in a stored kubeconfig unless the cluster entry allows them", () => {
    const exec = kubeconfig({ exec: { apiVersion: "client.authentication.k8s.io/v1beta1", command: "sh", args: ["-c", `echo ${SECRET} >&2; exit 1`] } });
    refuses(exec, /users\.0\.user\.exec: a stored kubeconfig's plugins run commands in the syncer; set allowAuthPlugins: true/);
    refuses(kubeconfig({ "auth-provider": { name: "oidc", config: { "id-token": SECRET } } }), /users\.0\.user\.auth-provider: /);
    assert.equal(kubeconfigFromText(exec, { ...stored, allowAuthPlugins: true }).getCurrentUser()?.exec.command, "sh");
    assert.equal(kubeconfigFromText(exec, { cluster: "local", where: "file /k", stored: false }).getCurrentUser()?.exec.command, "sh");
  });

  it("refuses credential files in a stored kubeconfig: they would send the syncer's own files to its server", () => {
    refuses(kubeconfig({ "token-file": "/proc/self/environ" }), /users\.0\.user\.token-file: a stored kubeconfig must carry its credentials inline/);
    refuses(kubeconfig({ "client-key": "/k", "client-certificate": "/c" }), /client-certificate: .*; users\.0\.user\.client-key: /);
    assert.equal(kubeconfigFromText(kubeconfig({ token: SECRET }, { "certificate-authority": "/ca" }), stored).getCurrentCluster()?.caFile, "/ca", "a CA is trusted, never sent");
  });
});

describe("kubeconfig files", () => {
  let dir: string;
  before(async () => (dir = await mkdtemp(join(tmpdir(), "ees-kubeconfig-"))));
  after(() => rm(dir, { recursive: true, force: true }));

  it("reads certificate paths relative to the file, and reports a broken file by its path only", async () => {
    const good = join(dir, "good");
    await writeFile(good, kubeconfig({ "token-file": join(dir, "token"), "client-key": "key.pem" }, { "certificate-authority": "ca.pem" }));
    await writeFile(join(dir, "token"), "file-token");
    const config = kubeconfigFromFile(good, "local");
    assert.equal(config.getCurrentUser()?.token, "file-token");
    assert.equal(config.getCurrentUser()?.keyFile, join(dir, "key.pem"));
    assert.equal(config.getCurrentCluster()?.caFile, join(dir, "ca.pem"));

    const bad = join(dir, "bad");
    await writeFile(bad, kubeconfig({ token: "x" }).replace("token: x", `token: !vault ${SECRET}`));
    assert.throws(
      () => kubeconfigFromFile(bad, "local"),
      (error: unknown) => error instanceof KubeconfigError && /file \/.*bad cannot be used: not valid YAML: line/.test(error.message) && !error.message.includes(SECRET.slice(0, 8)),
    );
    assert.throws(() => kubeconfigFromFile(join(dir, "none"), "local"), /cluster local: the kubeconfig from file .*none cannot be used: cannot read it \(ENOENT\)/);
  });

  it("merges the files KUBECONFIG lists, as client-node does", async () => {
    const [first, second] = [join(dir, "first"), join(dir, "second")];
    await writeFile(first, kubeconfig({ token: "one" }));
    await writeFile(second, stringify({ clusters: [{ name: "d", cluster: { server: "https://192.0.2.2" } }], users: [], contexts: [] }));
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = `${first}:${second}`;
    try {
      const config = defaultKubeconfig("local");
      assert.deepEqual(config.getClusters().map((cluster) => cluster.name), ["c", "d"]);
      assert.equal(config.getCurrentUser()?.token, "one");
    } finally {
      process.env.KUBECONFIG = saved;
    }
  });
});
