// The sources' pure parts, on made-up AWS data (moto's own answers are in test/integration/sources-*.test.ts):
// EC2 filters and address choice, Route 53 names and health status, a Route 53 page chain that needs
// NextRecordIdentifier (moto never sends one), skipped resources summed up, the config of each source, and
// the IAM statements the sources need.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Instance } from "@aws-sdk/client-ec2";
import { ListResourceRecordSetsCommand, Route53Client } from "@aws-sdk/client-route-53";
import { mockClient } from "aws-sdk-client-mock";
import { validateConfig } from "../../functions/config/load.ts";
import { iamStatements } from "../../infra/iam.ts";
import { describeFilters, instanceBackends } from "../../functions/sources/ec2.ts";
import { normalizeName, Route53Source, unhealthyReason } from "../../functions/sources/route53.ts";
import { summarizeSkipped } from "../../functions/sources/skipped.ts";
import { buildSources } from "../../functions/sources/build.ts";

const instance: Instance = {
  InstanceId: "i-0abc",
  State: { Name: "running" },
  Placement: { AvailabilityZone: "eu-west-1a" },
  PrivateIpAddress: "10.0.0.5",
  PublicIpAddress: "203.0.113.5",
  Tags: [{ Key: "Name", Value: "etcd-a" }, { Key: "port", Value: "2380" }],
  NetworkInterfaces: [
    {
      Attachment: { DeviceIndex: 0 },
      PrivateIpAddress: "10.0.0.5",
      Ipv6Addresses: [{ Ipv6Address: "2001:db8::5", IsPrimaryIpv6: false }, { Ipv6Address: "2001:db8::6", IsPrimaryIpv6: true }],
    },
    { Attachment: { DeviceIndex: 1 }, PrivateIpAddress: "10.0.1.5", Association: { PublicIp: "203.0.113.6" }, Ipv6Addresses: [{ Ipv6Address: "2001:db8:1::5" }] },
  ],
};

const choose = (config: Partial<Parameters<typeof instanceBackends>[1]>, from: Instance = instance) => {
  const result = instanceBackends(from, { address: "privateIPv4", ...config }, "fleet");
  return "skipped" in result ? `skipped: ${result.skipped.reason}` : result.backends.map((backend) => backend.address);
};

describe("EC2: filters", () => {
  it("sends tags as tag: filters, other filters as given, and the default states unless a state filter is given", () => {
    assert.deepEqual(describeFilters({ tags: { role: "etcd", env: ["prod", "staging"] }, filters: { "instance-type": "m5.large" } }), [
      { Name: "tag:role", Values: ["etcd"] },
      { Name: "tag:env", Values: ["prod", "staging"] },
      { Name: "instance-type", Values: ["m5.large"] },
      { Name: "instance-state-name", Values: ["running", "stopping", "shutting-down"] },
    ]);
    assert.deepEqual(describeFilters({ filters: { "instance-state-name": "running" } }), [{ Name: "instance-state-name", Values: ["running"] }]);
  });
});

describe("EC2: an instance's backends", () => {
  const cases: [string, Partial<Parameters<typeof instanceBackends>[1]>, string[] | string][] = [
    ["private IPv4 by default", {}, ["10.0.0.5"]],
    ["public IPv4", { address: "publicIPv4" }, ["203.0.113.5"]],
    ["the IPv6 address flagged primary", { address: "primaryIPv6" }, ["2001:db8::6"]],
    ["every IPv6 address of every interface", { address: "allIPv6" }, ["2001:db8::5", "2001:db8::6", "2001:db8:1::5"]],
    ["the private IPv4 of the interface at device index 1", { deviceIndex: 1 }, ["10.0.1.5"]],
    ["the public IPv4 of the interface at device index 1", { address: "publicIPv4", deviceIndex: 1 }, ["203.0.113.6"]],
    ["the first IPv6 of an interface without a flagged primary", { address: "primaryIPv6", deviceIndex: 1 }, ["2001:db8:1::5"]],
    ["no interface at device index 2: skipped", { deviceIndex: 2 }, "skipped: no network interface at device index 2"],
  ];
  for (const [name, config, expected] of cases) {
    it(name, () => assert.deepEqual(choose(config), expected));
  }

  it("skips an instance without the chosen address, saying which", () => {
    assert.equal(choose({ address: "publicIPv4" }, { ...instance, PublicIpAddress: undefined }), "skipped: no public IPv4 address");
  });

  it("takes the port from a tag, and skips instances whose tag is missing or no port", () => {
    const port = (value: string | undefined) => {
      const tags = [{ Key: "Name", Value: "etcd-a" }, ...(value === undefined ? [] : [{ Key: "port", Value: value }])];
      const result = instanceBackends({ ...instance, Tags: tags }, { address: "privateIPv4", portTag: "port" }, "fleet");
      return "skipped" in result ? result.skipped.reason : result.backends[0]!.port;
    };
    assert.equal(port("2380"), 2380);
    assert.equal(port(undefined), 'no tag "port" to take the port from');
    assert.equal(port("70000"), 'tag "port" is not a port (1-65535)');
    assert.equal(port("http"), 'tag "port" is not a port (1-65535)');
  });

  it("sets zone, hostname from a Name tag that is a DNS label (else the instance id), origin, and terminating while draining", () => {
    const backend = (overrides: Partial<Instance>) => {
      const result = instanceBackends({ ...instance, ...overrides }, { address: "privateIPv4" }, "fleet");
      assert.ok(!("skipped" in result));
      return result.backends[0]!;
    };
    assert.deepEqual(backend({}), {
      address: "10.0.0.5",
      family: "IPv4",
      hostname: "etcd-a",
      zone: "eu-west-1a",
      sources: ["fleet"],
      origins: ["fleet: i-0abc in eu-west-1a, running"],
    });
    assert.equal(backend({ Tags: [{ Key: "Name", Value: "Etcd A" }] }).hostname, "i-0abc");
    assert.equal(backend({ State: { Name: "stopping" } }).terminating, true);
    assert.equal(backend({ State: { Name: "shutting-down" } }).terminating, true);
    assert.equal(backend({ State: { Name: "running" } }).terminating, undefined);
  });
});

describe("Route 53", () => {
  it("normalizes names: lower case, a final dot, octal escapes decoded", () => {
    assert.equal(normalizeName("DB.Example.COM"), "db.example.com.");
    assert.equal(normalizeName("\\052.example.com."), "*.example.com.");
  });

  it("counts a health check healthy when more than 18% of its checkers say so, as Route 53 does", () => {
    const observations = (healthy: number, total: number) =>
      Array.from({ length: total }, (_, index) => ({ StatusReport: { Status: index < healthy ? "Success: HTTP Status Code 200, OK" : "Failure: Connection refused" } }));
    assert.equal(unhealthyReason("hc", observations(2, 8)), undefined);
    assert.equal(unhealthyReason("hc", observations(1, 8)), "Route 53 health check hc: 1 of 8 checkers report healthy (Failure: Connection refused)");
    assert.equal(unhealthyReason("hc", []), undefined, "no observations yet is no news");
  });

  it("(made-up Route 53 answers: moto never sends NextRecordIdentifier) follows NextRecordName, Type and Identifier page by page", async () => {
    const mock = mockClient(Route53Client);
    try {
      const set = (id: string, address: string) => ({ Name: "db.example.com.", Type: "A" as const, SetIdentifier: id, Weight: 1, ResourceRecords: [{ Value: address }] });
      mock
        .on(ListResourceRecordSetsCommand)
        .resolvesOnce({ ResourceRecordSets: [set("a", "192.0.2.1")], IsTruncated: true, NextRecordName: "db.example.com.", NextRecordType: "A", NextRecordIdentifier: "b", MaxItems: 1 })
        .resolvesOnce({ ResourceRecordSets: [set("b", "192.0.2.2")], IsTruncated: true, NextRecordName: "db.example.com.", NextRecordType: "AAAA", MaxItems: 1 })
        .resolvesOnce({ ResourceRecordSets: [{ Name: "db.example.com.", Type: "AAAA", ResourceRecords: [{ Value: "2001:db8::1" }] }], IsTruncated: true, NextRecordName: "dc.example.com.", NextRecordType: "A", MaxItems: 1 });
      const source = new Route53Source("records", { zoneId: "ZONE", name: "db.example.com", types: ["A", "AAAA"], healthChecks: false, timeoutMs: 1000 });

      const result = await source.discover(new AbortController().signal);

      assert.equal(result.status, "ok");
      assert.deepEqual(result.status === "ok" && result.backends.map((backend) => backend.address), ["192.0.2.1", "192.0.2.2", "2001:db8::1"]);
      const starts = mock.commandCalls(ListResourceRecordSetsCommand).map((call) => {
        const { StartRecordName, StartRecordType, StartRecordIdentifier } = call.args[0].input;
        return [StartRecordName, StartRecordType, StartRecordIdentifier];
      });
      assert.deepEqual(starts, [["db.example.com.", "A", undefined], ["db.example.com.", "A", "b"], ["db.example.com.", "AAAA", undefined]], "no fourth call for the next name");
    } finally {
      mock.restore();
    }
  });
});

describe("summarizeSkipped", () => {
  it("makes one line per reason, naming five resources at most", () => {
    const skipped = [...Array.from({ length: 7 }, (_, index) => ({ resource: `i-${index}`, reason: "no public IPv4 address" })), { resource: "i-9", reason: "no tag" }];
    assert.deepEqual(summarizeSkipped(skipped), ["left out i-0, i-1, i-2, i-3, i-4 and 2 more: no public IPv4 address", "left out i-9: no tag"]);
  });
});

describe("buildSources", () => {
  it("names an unnamed source after its kind and place", () => {
    const sources = buildSources([
      { static: [{ address: "10.0.0.1" }] },
      { ec2: { regions: ["eu-west-1"], tags: { role: "etcd" }, address: "privateIPv4", timeoutMs: 1000 } },
      { name: "records", route53: { zoneId: "Z1", name: "db.example.com", types: ["A"], healthChecks: false, timeoutMs: 1000 } },
      { dns: { name: "db.example.com", types: ["A"], timeoutMs: 1000 } },
    ]);
    assert.deepEqual(sources.map((source) => source.name), ["static[0]", "ec2[1]", "records", "dns[3]"]);
  });
});

describe("config of the EC2, Route 53 and DNS sources", () => {
  const configWith = (source: Record<string, unknown>, ports: Record<string, unknown>[] = [{ port: 2379 }]) => ({
    clusters: [{ name: "main" }],
    targets: [{ name: "etcd", cluster: "main", namespace: "kube-system", service: "etcd", ports, sources: [source] }],
  });
  const problems = (source: Record<string, unknown>, ports?: Record<string, unknown>[]) => {
    const result = validateConfig(configWith(source, ports));
    return result.ok ? [] : result.problems;
  };

  it("fills in the defaults", () => {
    const result = validateConfig(
      configWith({ ec2: { regions: ["eu-west-1"], tags: { role: "etcd" } } }),
    );
    assert.ok(result.ok);
    assert.deepEqual(result.config.targets[0]!.sources[0], { ec2: { regions: ["eu-west-1"], tags: { role: "etcd" }, address: "privateIPv4", timeoutMs: 10_000 } });
    const route53 = validateConfig(configWith({ route53: { zoneName: "example.com", name: "db.example.com" } }));
    assert.ok(route53.ok);
    assert.deepEqual(route53.config.targets[0]!.sources[0], { route53: { zoneName: "example.com", name: "db.example.com", types: ["A", "AAAA"], healthChecks: false, timeoutMs: 10_000 } });
    const dns = validateConfig(configWith({ dns: { name: "_etcd._tcp.example.com", types: ["SRV"] } }));
    assert.ok(dns.ok);
    assert.deepEqual(dns.config.targets[0]!.sources[0], { dns: { name: "_etcd._tcp.example.com", types: ["SRV"], timeoutMs: 2000 } });
  });

  const refused: [string, Record<string, unknown>, string[], Record<string, unknown>[]?][] = [
    ["an EC2 source without tags or filters", { ec2: { regions: ["eu-west-1"] } }, ["targets[0].sources[0].ec2: expected tags or filters: without them every instance of the regions would be a backend"]],
    ["a region that is none", { ec2: { regions: ["Ireland"], tags: { a: "b" } } }, ['targets[0].sources[0].ec2.regions[0]: expected an AWS region such as eu-west-1, got "Ireland"']],
    ["port and portTag", { ec2: { regions: ["eu-west-1"], tags: { a: "b" }, port: 1, portTag: "p" } }, ['targets[0].sources[0].ec2.portTag: expected port or portTag, not both, got "p"']],
    ["a tag given twice", { ec2: { regions: ["eu-west-1"], tags: { role: "x" }, filters: { "tag:role": "y" } } }, ['targets[0].sources[0].ec2.tags.role: tag "role" is also given as filter "tag:role": keep one, got "x"']],
    ["an unknown address", { ec2: { regions: ["eu-west-1"], tags: { a: "b" }, address: "ipv6" } }, ['targets[0].sources[0].ec2.address: expected privateIPv4, publicIPv4, primaryIPv6 or allIPv6, got "ipv6"']],
    ["a role that is no role ARN", { ec2: { regions: ["eu-west-1"], tags: { a: "b" }, role: { arn: "admin" } } }, ['targets[0].sources[0].ec2.role.arn: expected an IAM role ARN, got "admin"']],
    ["an endpoint that is no URL", { ec2: { regions: ["eu-west-1"], tags: { a: "b" }, endpoint: "localhost:5000" } }, ['targets[0].sources[0].ec2.endpoint: expected an http or https URL, got "localhost:5000"']],
    ["an unknown EC2 key", { ec2: { regions: ["eu-west-1"], tags: { a: "b" }, region: "eu-west-1" } }, ['targets[0].sources[0].ec2: unknown key "region"']],
    ["a port of its own on a target of two ports", { ec2: { regions: ["eu-west-1"], tags: { a: "b" }, portTag: "p" } }, ['targets[0].sources[0].ec2.portTag: a port of each backend\'s own needs a target with exactly one port, and this one has 2, got "p"'], [{ name: "a", port: 1 }, { name: "b", port: 2 }]],
    ["SRV on a target of two ports", { dns: { name: "_x._tcp.example.com", types: ["SRV"] } }, ['targets[0].sources[0].dns.types: a port of each backend\'s own needs a target with exactly one port, and this one has 2'], [{ name: "a", port: 1 }, { name: "b", port: 2 }]],
    ["both zone id and zone name", { route53: { zoneId: "Z1", zoneName: "example.com", name: "db.example.com" } }, ["targets[0].sources[0].route53: expected only one hosted zone, got zoneId and zoneName"]],
    ["a record name outside the zone", { route53: { zoneName: "example.com", name: "db.example.org" } }, ['targets[0].sources[0].route53.name: expected a name in zone example.com, got "db.example.org"']],
    ["CNAME records", { route53: { zoneId: "Z1", name: "db.example.com", types: ["CNAME"] } }, ['targets[0].sources[0].route53.types[0]: expected A or AAAA, got "CNAME"']],
    ["SRV with A", { dns: { name: "db.example.com", types: ["SRV", "A"] } }, ["targets[0].sources[0].dns.types: SRV stands alone: its targets are resolved for A and AAAA"]],
    ["empty tags", { ec2: { regions: ["eu-west-1"], tags: {} } }, ["targets[0].sources[0].ec2.tags: expected at least one tag, got {}: without them every instance of the regions would be a backend"]],
    ["empty filters", { ec2: { regions: ["eu-west-1"], filters: {} } }, ["targets[0].sources[0].ec2.filters: expected at least one filter, got {}: without them every instance of the regions would be a backend"]],
    ["empty tags beside empty filters", { ec2: { regions: ["eu-west-1"], tags: {}, filters: {} } }, [
      "targets[0].sources[0].ec2.tags: expected at least one tag, got {}: without them every instance of the regions would be a backend",
      "targets[0].sources[0].ec2.filters: expected at least one filter, got {}: without them every instance of the regions would be a backend",
    ]],
    ...[
      ["a name", "ns1.example.com"],
      ["a name with a port", "ns1.example.com:53"],
      ["an IPv4 address out of range", "999.0.0.1:53"],
      ["a port out of range", "10.0.0.2:70000"],
      ["an unbracketed IPv6 address with a port", "fd00::53:5353:x"],
      ["an IPv4 address in brackets", "[10.0.0.2]:53"],
      ["brackets without an IPv6 address", "[:::]:53"],
    ].map(([what, server]): [string, Record<string, unknown>, string[]] => [
      `a DNS server that is ${what}`,
      { dns: { name: "db.example.com", server } },
      [`targets[0].sources[0].dns.server: expected an IP address, not a name (10.0.0.2, with :port if not 53: 10.0.0.2:5353, [fd00::53]:5353), got ${JSON.stringify(server)}`],
    ]),
    ["two kinds in one source", { dns: { name: "db.example.com" }, static: [{ address: "10.0.0.1" }] }, ["targets[0].sources[0]: expected only one source kind, got static and dns"]],
  ];
  for (const [name, source, expected, ports] of refused) {
    it(`refuses ${name}, naming the path and value`, () => assert.deepEqual(problems(source, ports), expected));
  }

  it("accepts DNS servers with and without a port, IPv4 and IPv6", () => {
    for (const server of ["10.0.0.2", "10.0.0.2:5353", "fd00::53", "[fd00::53]:53"]) assert.deepEqual(problems({ dns: { name: "db.example.com", server } }), [], server);
  });
});

describe("IAM for the EC2 and Route 53 sources (infra/iam.ts)", () => {
  it("grants DescribeInstances in the config's regions, the zones' record sets, a lookup by name and health status only where used, and AssumeRole for sources with a role", () => {
    const result = validateConfig({
      clusters: [{ name: "main" }],
      targets: [
        {
          name: "fleet",
          cluster: "main",
          namespace: "apps",
          service: "fleet",
          ports: [{ port: 80 }],
          sources: [
            { ec2: { regions: ["eu-west-1", "us-east-1"], tags: { role: "web" } } },
            { ec2: { regions: ["eu-west-1"], tags: { role: "web" }, role: { arn: "arn:aws:iam::111122223333:role/reader", externalId: "x1" } } },
            { route53: { zoneId: "/hostedzone/Z0123", name: "web.example.com" } },
            { route53: { zoneName: "example.org", name: "web.example.org", healthChecks: true } },
            { dns: { name: "web.example.net" } },
          ],
        },
      ],
    });
    assert.ok(result.ok);
    const route53 = (resource: string) => ({ "Fn::Sub": `arn:\${AWS::Partition}:route53:::${resource}` });

    assert.deepEqual(iamStatements(result.config), [
      { Effect: "Allow", Action: ["ec2:DescribeInstances"], Resource: ["*"], Condition: { StringEquals: { "aws:RequestedRegion": ["eu-west-1", "us-east-1"] } } },
      { Effect: "Allow", Action: ["route53:ListResourceRecordSets"], Resource: [route53("hostedzone/*"), route53("hostedzone/Z0123")] },
      { Effect: "Allow", Action: ["route53:ListHostedZonesByName"], Resource: ["*"] },
      { Effect: "Allow", Action: ["route53:GetHealthCheckStatus"], Resource: [route53("healthcheck/*")] },
      { Effect: "Allow", Action: ["sts:AssumeRole"], Resource: ["arn:aws:iam::111122223333:role/reader"] },
    ]);
  });

  it("grants nothing for static and DNS sources", () => {
    const result = validateConfig({
      clusters: [{ name: "main" }],
      targets: [{ name: "t", cluster: "main", namespace: "a", service: "s", ports: [{ port: 80 }], sources: [{ static: [{ address: "10.0.0.1" }] }, { dns: { name: "s.example.com" } }] }],
    });
    assert.ok(result.ok);
    assert.deepEqual(iamStatements(result.config), []);
  });
});
