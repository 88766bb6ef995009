// What the EC2, Route 53 and DNS sources add to decide: merging their extra fields (ports of their own,
// draining, a source's health signal, where each address came from), draining endpoints, Route 53's verdict
// on top of ours, and reading all that back from what is published.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { mergeBackends } from "../../functions/decide/addresses.ts";
import { decideEndpoints, type DecideInput } from "../../functions/decide/desired.ts";
import { publishedEndpoints } from "../../functions/registry/published.ts";
import { withSourceHealth } from "../../functions/decide/source-health.ts";
import type { Backend, Verdict } from "../../functions/model.ts";

const backend = (address: string, extra: Partial<Backend> = {}): Backend => ({ address, family: address.includes(":") ? "IPv6" : "IPv4", sources: ["fleet"], ...extra });
const pass: Verdict = { status: "pass", reason: "Passed", latencyMs: 3 };
const fail: Verdict = { status: "fail", reason: "ConnRefused", latencyMs: 1 };

/** Decides with our probes' streaks saying `healthy` for every backend. */
function decide(backends: Backend[], healthy: boolean, overrides: Partial<DecideInput> = {}) {
  const verdicts = withSourceHealth(backends, new Map(backends.map((item) => [item.address, healthy ? pass : fail])));
  return decideEndpoints({
    backends,
    verdicts,
    hysteresis: { healthy: new Map(backends.map((item) => [item.address, healthy])), health: new Map() },
    failedSources: [],
    published: [],
    failing: "notReady",
    memory: { backends: {} },
    ...overrides,
  });
}

describe("mergeBackends: the fields of EC2, Route 53 and DNS", () => {
  it("heeds any source that says draining or down, keeps every origin, and takes the first source's port", () => {
    const { backends } = mergeBackends([
      backend("10.0.0.1", { sources: ["dns"], port: 2380, origins: ["dns: SRV"] }),
      backend("10.0.0.1", { sources: ["fleet"], port: 2381, terminating: true, origins: ["fleet: i-1"] }),
      backend("10.0.0.1", { sources: ["records"], unhealthy: "Route 53 health check hc: 0 of 3", origins: ["records: A set \"a\""] }),
    ]);

    assert.deepEqual(backends, [
      {
        address: "10.0.0.1",
        family: "IPv4",
        sources: ["dns", "fleet", "records"],
        port: 2380,
        terminating: true,
        unhealthy: "Route 53 health check hc: 0 of 3",
        origins: ["dns: SRV", "fleet: i-1", 'records: A set "a"'],
      },
    ]);
  });
});

describe("decideEndpoints: draining and a source's health signal", () => {
  it("publishes a draining backend not ready and terminating, serving when it passes", () => {
    assert.deepEqual(decide([backend("10.0.0.1", { terminating: true, port: 2380 })], true).endpoints, [
      { address: "10.0.0.1", family: "IPv4", port: 2380, ready: false, serving: true, terminating: true },
    ]);
    assert.deepEqual(decide([backend("10.0.0.1", { terminating: true })], false).endpoints, [
      { address: "10.0.0.1", family: "IPv4", ready: false, serving: false, terminating: true },
    ]);
  });

  it("never publishes ready a backend its source calls down, though our probes pass, and drops it under failing: drop", () => {
    const down = backend("10.0.0.1", { unhealthy: "Route 53 health check hc: 0 of 3 checkers report healthy" });

    assert.deepEqual(decide([down], true).endpoints, [{ address: "10.0.0.1", family: "IPv4", ready: false }]);
    assert.deepEqual(decide([down], true, { failing: "drop" }).dropped, ["10.0.0.1"]);
  });
});

describe("withSourceHealth", () => {
  it("fails a backend its source calls down with SourceUnhealthy, keeping our probe's latency, and leaves the rest", () => {
    const verdicts = withSourceHealth([backend("10.0.0.1", { unhealthy: "down says Route 53" }), backend("10.0.0.2")], new Map([["10.0.0.1", pass], ["10.0.0.2", pass]]));

    assert.deepEqual([...verdicts], [
      ["10.0.0.1", { status: "fail", reason: "SourceUnhealthy", latencyMs: 3, detail: "down says Route 53" }],
      ["10.0.0.2", pass],
    ]);
  });
});

describe("publishedEndpoints: what EC2, Route 53 and DNS add", () => {
  it("reads back draining conditions, and the port of a single-port slice", () => {
    const slice: V1EndpointSlice = {
      addressType: "IPv4",
      metadata: { name: "db-ipv4-1" },
      ports: [{ name: "client", port: 2380 }],
      endpoints: [
        { addresses: ["10.0.0.1"], conditions: { ready: false, serving: true, terminating: true } },
        { addresses: ["10.0.0.2"], conditions: { ready: true, serving: true, terminating: false } },
      ],
    };

    assert.deepEqual(publishedEndpoints([slice], undefined), [
      { address: "10.0.0.1", family: "IPv4", ready: false, terminating: true, serving: true, port: 2380, hostname: undefined, nodeName: undefined, zone: undefined },
      { address: "10.0.0.2", family: "IPv4", ready: true, port: 2380, hostname: undefined, nodeName: undefined, zone: undefined },
    ]);
  });
});
