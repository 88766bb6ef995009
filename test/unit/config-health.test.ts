// The health options of the config: checks (one or a list), TLS material, HTTP details, rise/fall, guards,
// fast detection. Each problem names its path; a key's text is never shown.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { validateConfig } from "../../functions/config/load.ts";

function withTarget(target: Record<string, unknown>, top: Record<string, unknown> = {}) {
  return validateConfig({
    clusters: [{ name: "c" }],
    targets: [{ name: "t", cluster: "c", namespace: "n", service: "s", ports: [{ port: 2379 }], sources: [{ static: [{ address: "10.0.0.1" }] }], ...target }],
    ...top,
  });
}

const problems = (result: ReturnType<typeof validateConfig>) => (result.ok ? [] : result.problems);

describe("health config", () => {
  it("takes a list of checks and fills each one's defaults", () => {
    const result = withTarget({ check: [{ tcp: {} }, { etcd: { caFile: "ca.crt", certFile: "c.crt", keyFile: "c.key" } }, { grpc: { tls: {} } }] });
    assert.ok(result.ok, problems(result).join("\n"));
    assert.deepEqual(result.config.targets[0]!.check, [
      { tcp: { timeoutMs: 2000 } },
      { etcd: { timeoutMs: 2000, caFile: "ca.crt", certFile: "c.crt", keyFile: "c.key", insecureSkipVerify: false } },
      { grpc: { timeoutMs: 2000, service: "", tls: { insecureSkipVerify: false } } },
    ]);
  });

  it("names the problem inside a list of checks, and inside a single one", () => {
    assert.deepEqual(problems(withTarget({ check: [{ tcp: {} }, { http: { methd: "GET" } }] })), ['targets[0].check[1].http: unknown key "methd"']);
    assert.deepEqual(problems(withTarget({ check: "tcp" })), ['targets[0].check: expected a check or a list of checks, got "tcp"']);
  });

  const cases: { name: string; check: unknown; problems: string[] }[] = [
    { name: "a connect timeout above the total", check: { tcp: { timeoutMs: 500, connectTimeoutMs: 900 } }, problems: ["targets[0].check.tcp.connectTimeoutMs: expected at most timeoutMs (500), got 900"] },
    { name: "a CA given twice", check: { tls: { caFile: "a", caPem: "b" } }, problems: ['targets[0].check.tls.caFile: expected caFile or caPem, not both, got "a"'] },
    { name: "a key given twice, without showing it", check: { tls: { certFile: "c", keyFile: "k", keyPem: "-----BEGIN PRIVATE KEY-----" } }, problems: ['targets[0].check.tls.keyFile: expected keyFile or keyPem, not both, got "k"'] },
    { name: "a certificate without its key", check: { https: { certFile: "c.crt" } }, problems: ["targets[0].check.https.keyFile: a client certificate needs its key, and a key its certificate"] },
    { name: "insecureSkipVerify beside a CA", check: { etcd: { caFile: "a", insecureSkipVerify: true } }, problems: ["targets[0].check.etcd.insecureSkipVerify: insecureSkipVerify ignores the CA given: keep one, got true"] },
    { name: "a body match on HEAD", check: { http: { method: "HEAD", body: { contains: "ok" } } }, problems: ["targets[0].check.http.body: a HEAD answer has no body to match"] },
    { name: "two body matches", check: { http: { body: { contains: "ok", matches: "o+k" } } }, problems: ["targets[0].check.http.body: expected only one body match, got contains and matches"] },
    { name: "a regex that does not compile", check: { http: { body: { matches: "(" } } }, problems: ['targets[0].check.http.body.matches: expected a regular expression in RE2 syntax (error parsing regexp: missing closing ): `(`), got "("'] },
    // RE2 has neither: both can make a match take exponential time.
    { name: "a backreference", check: { http: { body: { matches: "(a)\\1" } } }, problems: ['targets[0].check.http.body.matches: expected a regular expression in RE2 syntax (error parsing regexp: invalid escape sequence: `\\1`), got "(a)\\\\1"'] },
    { name: "a lookahead", check: { http: { body: { matches: "ok(?=!)" } } }, problems: ['targets[0].check.http.body.matches: expected a regular expression in RE2 syntax (error parsing regexp: invalid or unsupported Perl syntax: `(?=`), got "ok(?=!)"'] },
    { name: "a header value with a line break, without showing it", check: { http: { headers: { "X-A": "1\r\nX-B: 2" } } }, problems: ["targets[0].check.http.headers.X-A: expected a header value without line breaks"] },
    {
      name: "a header name that is a whole header, without showing it",
      check: { http: { headers: { "Authorization: Bearer abc123": "" } } },
      problems: ["targets[0].check.http.headers: a key (not shown: it may be a secret): expected a header name (letters, digits and !#$%&'*+.^_`|~-)"],
    },
    { name: "headers written as a list, without showing them", check: { http: { headers: ["Authorization: Bearer abc123"] } }, problems: ["targets[0].check.http.headers: Invalid input: expected record, received array"] },
  ];
  for (const { name, check, problems: expected } of cases) {
    it(`refuses ${name}`, () => assert.deepEqual(problems(withTarget({ check })), expected));
  }

  it("never shows a key's text, even when it is not PEM", () => {
    const result = withTarget({ check: { tls: { certPem: "-----BEGIN CERTIFICATE-----", keyPem: "" } } });
    assert.deepEqual(problems(result), ["targets[0].check.tls.keyPem: expected PEM text"]);
  });

  it("never shows PEM text written where a check belongs", () => {
    const result = withTarget({ check: { tls: "-----BEGIN PRIVATE KEY-----\nabc123\n-----END PRIVATE KEY-----\n" } });
    assert.deepEqual(problems(result), ["targets[0].check.tls: Invalid input: expected object, received string, got \"(not shown: it may be a secret)\""]);
  });

  it("hides the secret fields of a whole object it shows (a check indented into sources)", () => {
    const result = withTarget({ sources: { check: { https: { keyPem: "abc123", caPem: "abc123", headers: { A: "abc123" } } } } });
    assert.deepEqual(problems(result), [
      'targets[0].sources: Invalid input: expected array, received object, got {"check":{"https":{"keyPem":"(not shown: it may be a secret)","caPem":"(not s...',
    ]);
  });

  it("takes rise, fall and guards, with counts and percentages", () => {
    const result = withTarget({ rise: 3, fall: 1, guards: { minHealthy: "50%", belowMinHealthy: "publishAll", maxRemovalsPerRun: 2, neverEmpty: false } });
    assert.ok(result.ok, problems(result).join("\n"));
    assert.deepEqual(result.config.targets[0]!.guards, { minHealthy: "50%", belowMinHealthy: "publishAll", maxRemovalsPerRun: 2, neverEmpty: false });
    assert.deepEqual(problems(withTarget({ guards: { maxRemovalsPerRun: "0%" } })), ['targets[0].guards.maxRemovalsPerRun: expected a percentage from 1% to 100%, such as "25%", got "0%"']);
    assert.deepEqual(problems(withTarget({ fall: 0 })), ["targets[0].fall: expected 1-10, got 0"]);
  });

  it("refuses fast detection that would still run when the next invocation starts", () => {
    assert.deepEqual(problems(withTarget({}, { fastDetection: { everySeconds: 10, forSeconds: 60 } })), ["fastDetection.forSeconds: expected less than syncIntervalSeconds (60), got 60"]);
    const result = withTarget({}, { fastDetection: {} });
    assert.ok(result.ok);
    assert.deepEqual(result.config.fastDetection, { everySeconds: 5, forSeconds: 50 });
  });
});
