// The `file` source (sources/file.ts) against real files in a temporary folder: the line format, each way a
// file can be bad (a bad line, missing, empty, a folder, a FIFO, too big, not UTF-8), a cancelled run, and its
// config: the path relative to the config file, the factory's name for it, and no IAM.
import { describe, it, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig, validateConfig } from "../../functions/config/load.ts";
import type { SourceResult } from "../../functions/model.ts";
import { buildSources } from "../../functions/sources/build.ts";
import { FileSource, MAX_FILE_BYTES } from "../../functions/sources/file.ts";
import { iamStatements } from "../../infra/iam.ts";

async function tempDir(t: TestContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "syncer-file-source-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** What the source answers for a file holding `content` (a path that is not written when content is undefined). */
async function discover(t: TestContext, content: string | Buffer | undefined, signal = new AbortController().signal): Promise<SourceResult & { path: string }> {
  const path = join(await tempDir(t), "backends.txt");
  if (content !== undefined) await writeFile(path, content);
  return { ...(await new FileSource("list", { path }).discover(signal)), path };
}

const failure = (result: SourceResult) => (result.status === "failed" ? result.error : `ok: ${JSON.stringify(result.backends)}`);

describe("file source: the format", () => {
  it("reads one backend a line, with an optional hostname, skipping comments and blank lines, CRLF or LF", async (t) => {
    const result = await discover(t, "# the etcd members\n192.0.2.10 etcd-a\r\n\n  192.0.2.11   # no hostname\n2001:db8::12\tetcd-c\n");
    assert.equal(result.status, "ok");
    assert.deepEqual(result.status === "ok" && result.backends, [
      { address: "192.0.2.10", family: "IPv4", hostname: "etcd-a", sources: ["list"] },
      { address: "192.0.2.11", family: "IPv4", hostname: undefined, sources: ["list"] },
      { address: "2001:db8::12", family: "IPv6", hostname: "etcd-c", sources: ["list"] },
    ]);
  });

  it("answers no backends for a file of comments alone", async (t) => {
    const result = await discover(t, "# nothing here while the fleet is rebuilt\n");
    assert.deepEqual(result.status === "ok" && result.backends, []);
  });

  const badLines: [string, string, string][] = [
    ["a name where the address goes", "192.0.2.1\ndb.example.com\n", "line 2: expected an IPv4 or IPv6 address, got \"db.example.com\""],
    ["an address with a port", "192.0.2.1:2379\n", "line 1: expected an IPv4 or IPv6 address, got \"192.0.2.1:2379\""],
    ["a hostname that is no DNS label", "192.0.2.1 etcd.example.com\n", "line 1: expected a hostname that is a DNS label (lower-case letters, digits and '-'), got \"etcd.example.com\""],
    ["three words", "\n\n192.0.2.1 etcd-a eu-west-1a\n", "line 3: expected an address and at most a hostname, got 3 words"],
    ["a long word, quoted in part", `${"x".repeat(10_000)}\n`, `line 1: expected an IPv4 or IPv6 address, got "${"x".repeat(64)}..."`],
  ];
  for (const [what, content, expected] of badLines) {
    it(`fails on ${what}, naming the file and line`, async (t) => {
      const result = await discover(t, content);
      assert.equal(failure(result), `${result.path} ${expected}`);
    });
  }
});

describe("file source: files it cannot use fail the source, naming the path", () => {
  it("a missing file", async (t) => {
    const result = await discover(t, undefined);
    assert.equal(failure(result), `cannot read ${result.path}: ENOENT`);
  });

  it("an empty file, as one being rewritten in place looks", async (t) => {
    const result = await discover(t, "");
    assert.match(failure(result), /: the file is empty .*write a comment$/);
  });

  it(`a file over ${MAX_FILE_BYTES} bytes, refused by its size`, async (t) => {
    const content = "192.0.2.1\n".repeat(Math.ceil((MAX_FILE_BYTES + 1) / 10));
    const result = await discover(t, content);
    assert.equal(failure(result), `cannot read ${result.path}: ${content.length} bytes, more than ${MAX_FILE_BYTES}`);
  });

  it("a file that is not UTF-8", async (t) => {
    const result = await discover(t, Buffer.from([0x31, 0x39, 0x32, 0xff, 0x0a]));
    assert.equal(failure(result), `cannot read ${result.path}: not UTF-8 text`);
  });

  it("a folder, and a FIFO without a writer (which must not block the open)", async (t) => {
    const dir = await tempDir(t);
    await mkdir(join(dir, "folder"));
    execFileSync("mkfifo", [join(dir, "fifo")]);
    for (const name of ["folder", "fifo"]) {
      const path = join(dir, name);
      assert.equal(failure(await new FileSource("list", { path }).discover(new AbortController().signal)), `cannot read ${path}: not a regular file`);
    }
  });

  it("a cancelled run", async (t) => {
    const result = await discover(t, "192.0.2.1\n", AbortSignal.abort());
    assert.equal(failure(result), `cannot read ${result.path}: the run was cancelled`);
  });
});

describe("file source: config", () => {
  it("takes the path relative to the config file, names an unnamed one file[N], and needs no IAM", async (t) => {
    const dir = await tempDir(t);
    const configPath = join(dir, "config.yaml");
    await writeFile(
      configPath,
      [
        "clusters: [{ name: main }]",
        "targets:",
        "  - { name: etcd, cluster: main, namespace: kube-system, service: etcd, ports: [{ port: 2379 }],",
        "      sources: [{ static: [{ address: 192.0.2.1 }] }, { file: { path: lists/etcd.txt } }] }",
      ].join("\n"),
    );
    const config = await loadConfig(configPath);
    const sources = config.targets[0]!.sources;
    assert.deepEqual(sources[1], { file: { path: join(dir, "lists/etcd.txt") } });
    assert.deepEqual(buildSources(sources).map((source) => source.name), ["static[0]", "file[1]"]);
    assert.deepEqual(iamStatements(config), []);
  });

  it("refuses a file source without a path, or with other fields, naming them", () => {
    const problems = (file: unknown) => {
      const result = validateConfig({
        clusters: [{ name: "main" }],
        targets: [{ name: "t", cluster: "main", namespace: "a", service: "s", ports: [{ port: 80 }], sources: [{ file }] }],
      });
      return result.ok ? [] : result.problems;
    };
    assert.deepEqual(problems({}), ["targets[0].sources[0].file.path: expected a file path, got nothing"]);
    assert.deepEqual(problems({ path: "a.txt", format: "csv" }), ['targets[0].sources[0].file: unknown key "format"']);
  });
});
