import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { V1EndpointSlice, V1Endpoints } from "@kubernetes/client-node";
import { decideEndpoints, type DecideInput } from "../../functions/decide/desired.ts";
import { publishedEndpoints } from "../../functions/registry/published.ts";
import type { Backend, DesiredEndpoint, Verdict } from "../../functions/model.ts";

const backend = (address: string, extra: Partial<Backend> = {}): Backend => ({
  address,
  family: address.includes(":") ? "IPv6" : "IPv4",
  sources: ["racks"],
  ...extra,
});
const published = (address: string, ready: boolean, extra: Partial<DesiredEndpoint> = {}): DesiredEndpoint => ({
  address,
  family: address.includes(":") ? "IPv6" : "IPv4",
  ready,
  ...extra,
});
const pass: Verdict = { status: "pass", reason: "Passed", latencyMs: 3 };
const fail: Verdict = { status: "fail", reason: "ConnRefused", latencyMs: 1 };
const unknown: Verdict = { status: "unknown", reason: "CheckerError", latencyMs: 0, detail: "EMFILE" };

/** Rise/fall already applied and every verdict taken as it is (rise: 1, fall: 1): hysteresis has its own tests. */
function input(overrides: Partial<DecideInput>): DecideInput {
  const verdicts = overrides.verdicts ?? new Map<string, Verdict>();
  const healthy = new Map([...verdicts].filter(([, verdict]) => verdict.status !== "unknown").map(([address, verdict]) => [address, verdict.status === "pass"]));
  return { backends: [], verdicts, hysteresis: { healthy, health: new Map() }, failedSources: [], published: [], failing: "notReady", memory: { backends: {} }, ...overrides };
}

describe("decideEndpoints: verdicts", () => {
  it("publishes a passing backend ready, with its fields and without its sources", () => {
    const decision = decideEndpoints(
      input({ backends: [backend("10.0.0.1", { hostname: "db-1", nodeName: "n1", zone: "z1", sources: ["a", "b"] })], verdicts: new Map([["10.0.0.1", pass]]) }),
    );

    assert.deepEqual(decision, {
      endpoints: [{ address: "10.0.0.1", family: "IPv4", ready: true, hostname: "db-1", nodeName: "n1", zone: "z1" }],
      kept: [],
      dropped: [],
      memory: { backends: { "10.0.0.1": { sources: ["a", "b"] } } },
    });
  });

  const failingCases: { failing: "notReady" | "drop"; endpoints: DesiredEndpoint[]; dropped: string[] }[] = [
    { failing: "notReady", endpoints: [published("10.0.0.1", true), published("10.0.0.2", false)], dropped: [] },
    { failing: "drop", endpoints: [published("10.0.0.1", true)], dropped: ["10.0.0.2"] },
  ];
  for (const { failing, endpoints, dropped } of failingCases) {
    it(`with failing: ${failing}, a failing backend is ${failing === "drop" ? "dropped and reported" : "published not ready"}`, () => {
      const decision = decideEndpoints(
        input({
          backends: [backend("10.0.0.1"), backend("10.0.0.2")],
          verdicts: new Map([["10.0.0.1", pass], ["10.0.0.2", fail]]),
          published: [published("10.0.0.2", true)],
          failing,
        }),
      );

      assert.deepEqual(decision.endpoints, endpoints);
      assert.deepEqual(decision.dropped, dropped);
      assert.deepEqual(decision.kept, []);
    });
  }

  for (const wasReady of [true, false]) {
    it(`an unknown verdict keeps the published readiness (${wasReady ? "ready" : "not ready"}) and says why`, () => {
      const decision = decideEndpoints(
        input({ backends: [backend("10.0.0.1")], verdicts: new Map([["10.0.0.1", unknown]]), published: [published("10.0.0.1", wasReady)], failing: "drop" }),
      );

      assert.deepEqual(decision.endpoints, [published("10.0.0.1", wasReady)]);
      assert.deepEqual(decision.kept, [{ address: "10.0.0.1", reason: "checker error: EMFILE" }]);
      assert.deepEqual(decision.dropped, []);
    });
  }

  it("a backend with no verdict at all is treated like an unknown one", () => {
    const decision = decideEndpoints(input({ backends: [backend("10.0.0.1")], published: [published("10.0.0.1", true)] }));

    assert.deepEqual(decision.endpoints, [published("10.0.0.1", true)]);
    assert.deepEqual(decision.kept, [{ address: "10.0.0.1", reason: "checker error: no verdict" }]);
  });

  it("a new backend with an unknown verdict is published not ready under failing: notReady, never ready", () => {
    const decision = decideEndpoints(input({ backends: [backend("10.0.0.1")], verdicts: new Map([["10.0.0.1", unknown]]) }));

    assert.deepEqual(decision.endpoints, [published("10.0.0.1", false)]);
    assert.deepEqual(decision.kept, []);
  });

  it("a new backend with an unknown verdict is left out under failing: drop", () => {
    const decision = decideEndpoints(input({ backends: [backend("10.0.0.1")], verdicts: new Map([["10.0.0.1", unknown]]), failing: "drop" }));

    assert.deepEqual(decision.endpoints, []);
  });
});

describe("decideEndpoints: sources", () => {
  it("keeps only the endpoints the failed source found, by what the last run remembered", () => {
    const before = [published("10.0.0.1", true), published("10.0.0.2", true), published("10.0.0.3", true)];
    const memory = { backends: { "10.0.0.1": { sources: ["ec2"] }, "10.0.0.2": { sources: ["dns"] }, "10.0.0.3": { sources: ["dns", "ec2"] } } };

    const decision = decideEndpoints(input({ backends: [], failedSources: ["ec2"], published: before, memory }));

    // 10.0.0.2 only came from dns, which answered without it: gone. The others had ec2, which could not look.
    assert.deepEqual(decision.endpoints.map((endpoint) => endpoint.address), ["10.0.0.1", "10.0.0.3"]);
    assert.deepEqual(decision.kept, [
      { address: "10.0.0.1", reason: "source failed: ec2" },
      { address: "10.0.0.3", reason: "source failed: ec2" },
    ]);
    assert.deepEqual(decision.memory, { backends: { "10.0.0.1": { sources: ["ec2"] }, "10.0.0.3": { sources: ["dns", "ec2"] } } });
  });

  it("remembers which sources found each backend, for the next run", () => {
    const decision = decideEndpoints(input({ backends: [backend("10.0.0.1", { sources: ["dns", "ec2"] })], verdicts: new Map([["10.0.0.1", pass]]) }));
    assert.deepEqual(decision.memory, { backends: { "10.0.0.1": { sources: ["dns", "ec2"] } } });
  });

  it("a failed source keeps published endpoints not found this run, as they were, and reports them in kept", () => {
    // Prepare: 10.0.0.1 still found and passing; 10.0.0.2 and the IPv6 one only the failed source knew.
    const before = [published("10.0.0.1", true), published("10.0.0.2", false, { hostname: "db-2" }), published("2001:db8::2", true)];

    // Act
    const decision = decideEndpoints(
      input({ backends: [backend("10.0.0.1")], verdicts: new Map([["10.0.0.1", pass]]), failedSources: ["dns", "cmdb"], published: before }),
    );

    // Assess
    assert.deepEqual(decision.endpoints, [published("10.0.0.1", true), published("10.0.0.2", false, { hostname: "db-2" }), published("2001:db8::2", true)]);
    assert.deepEqual(decision.kept, [
      { address: "10.0.0.2", reason: "source failed: dns, cmdb" },
      { address: "2001:db8::2", reason: "source failed: dns, cmdb" },
    ]);
  });

  it("a failed source does not keep an endpoint that was found and now fails: the verdict decides", () => {
    const decision = decideEndpoints(
      input({ backends: [backend("10.0.0.1")], verdicts: new Map([["10.0.0.1", fail]]), failedSources: ["dns"], published: [published("10.0.0.1", true)], failing: "drop" }),
    );

    assert.deepEqual(decision, { endpoints: [], kept: [], dropped: ["10.0.0.1"], memory: { backends: { "10.0.0.1": { sources: ["racks"] } } } });
  });

  it("ok sources that return nothing remove what was published", () => {
    const decision = decideEndpoints(input({ backends: [], published: [published("10.0.0.1", true), published("10.0.0.2", false)] }));

    assert.deepEqual(decision, { endpoints: [], kept: [], dropped: [], memory: { backends: {} } });
  });

  it("a published endpoint no ok source returns any more is removed", () => {
    const decision = decideEndpoints(
      input({ backends: [backend("10.0.0.1")], verdicts: new Map([["10.0.0.1", pass]]), published: [published("10.0.0.1", true), published("10.0.0.7", true)] }),
    );

    assert.deepEqual(decision.endpoints.map((endpoint) => endpoint.address), ["10.0.0.1"]);
  });
});

describe("publishedEndpoints", () => {
  const slice = (addressType: string, endpoints: V1EndpointSlice["endpoints"]): V1EndpointSlice => ({ addressType, endpoints, metadata: { name: `s-${addressType}` } });
  const endpointsObject: V1Endpoints = {
    metadata: { name: "db" },
    subsets: [
      { addresses: [{ ip: "10.9.9.1", hostname: "e1" }], notReadyAddresses: [{ ip: "2001:db8::9", nodeName: "n9" }] },
      { addresses: [{ ip: "10.9.9.2" }] },
    ],
  };

  it("reads the slices' endpoints with their conditions", () => {
    const slices = [
      slice("IPv4", [
        { addresses: ["10.0.0.1"], conditions: { ready: true }, hostname: "db-1", nodeName: "n1", zone: "z1" },
        { addresses: ["10.0.0.2"], conditions: { ready: false, serving: false } },
        { addresses: ["10.0.0.3"] },
      ]),
      slice("IPv6", [{ addresses: ["2001:db8::1"], conditions: { ready: false } }]),
      slice("FQDN", [{ addresses: ["db.example.com"] }]),
    ];

    const endpoints = publishedEndpoints(slices, undefined);

    assert.deepEqual(endpoints, [
      { address: "10.0.0.1", family: "IPv4", ready: true, hostname: "db-1", nodeName: "n1", zone: "z1" },
      { address: "10.0.0.2", family: "IPv4", ready: false, hostname: undefined, nodeName: undefined, zone: undefined },
      // No conditions: ready, as the API documents an unset ready.
      { address: "10.0.0.3", family: "IPv4", ready: true, hostname: undefined, nodeName: undefined, zone: undefined },
      { address: "2001:db8::1", family: "IPv6", ready: false, hostname: undefined, nodeName: undefined, zone: undefined },
    ]);
  });

  it("lays the Endpoints over the slices where a failed write left them apart: ready in either is ready", () => {
    const slices = [slice("IPv4", [{ addresses: ["10.9.9.1"], conditions: { ready: false }, hostname: "s1" }, { addresses: ["10.9.9.3"], conditions: { ready: true } }])];

    const endpoints = publishedEndpoints(slices, endpointsObject);

    assert.deepEqual(endpoints, [
      // Not ready in the slice, ready in the Endpoints: the guards count its removal.
      { address: "10.9.9.1", family: "IPv4", ready: true, hostname: "s1", nodeName: undefined, zone: undefined },
      { address: "10.9.9.3", family: "IPv4", ready: true, hostname: undefined, nodeName: undefined, zone: undefined },
      // In the Endpoints only (the slice's write took it out, the Endpoints' failed).
      { address: "2001:db8::9", family: "IPv6", ready: false, hostname: undefined, nodeName: "n9" },
      { address: "10.9.9.2", family: "IPv4", ready: true, hostname: undefined, nodeName: undefined },
    ]);
  });

  it("reads the Endpoints when there are no slices: addresses ready, notReadyAddresses not, family from the IP", () => {
    const endpoints = publishedEndpoints([], endpointsObject);

    assert.deepEqual(endpoints, [
      { address: "10.9.9.1", family: "IPv4", ready: true, hostname: "e1", nodeName: undefined },
      { address: "2001:db8::9", family: "IPv6", ready: false, hostname: undefined, nodeName: "n9" },
      { address: "10.9.9.2", family: "IPv4", ready: true, hostname: undefined, nodeName: undefined },
    ]);
  });

  it("reads an address that a failed move left in two slices, or two subsets, as ready where either copy is", () => {
    const onPort = (port: number, ready: boolean): V1EndpointSlice => ({
      addressType: "IPv4",
      metadata: { name: `db-${port}` },
      ports: [{ port }],
      endpoints: [{ addresses: ["10.0.0.1"], conditions: { ready } }],
    });
    const moved: V1Endpoints = { metadata: { name: "db" }, subsets: [{ ports: [{ port: 5432 }], addresses: [{ ip: "10.0.0.1" }] }, { ports: [{ port: 6432 }], notReadyAddresses: [{ ip: "10.0.0.1" }] }] };

    for (const slices of [[onPort(5432, true), onPort(6432, false)], [onPort(6432, false), onPort(5432, true)]]) {
      assert.deepEqual(publishedEndpoints(slices, undefined).map(({ address, ready, port }) => ({ address, ready, port })), [{ address: "10.0.0.1", ready: true, port: 5432 }]);
    }
    assert.deepEqual(publishedEndpoints([], moved).map(({ address, ready, port }) => ({ address, ready, port })), [{ address: "10.0.0.1", ready: true, port: 5432 }]);
  });

  it("reads nothing from nothing", () => {
    assert.deepEqual(publishedEndpoints([], undefined), []);
    assert.deepEqual(publishedEndpoints([], { metadata: { name: "db" } }), []);
  });
});
