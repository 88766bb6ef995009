import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { checkAddress, mergeBackends } from "../../functions/decide/addresses.ts";
import type { Backend } from "../../functions/model.ts";

describe("checkAddress", () => {
  const refused: { address: string; reason: RegExp }[] = [
    { address: "127.0.0.1", reason: /^loopback address/ },
    { address: "127.255.0.9", reason: /^loopback address/ },
    { address: "::1", reason: /^loopback address/ },
    { address: "0:0:0:0:0:0:0:1", reason: /^loopback address/ },
    { address: "169.254.169.254", reason: /^link-local address/ },
    { address: "fe80::1", reason: /^link-local address/ },
    { address: "febf:ffff::1", reason: /^link-local address/ },
    { address: "0.0.0.0", reason: /^unspecified address/ },
    { address: "::", reason: /^unspecified address/ },
    { address: "224.0.0.1", reason: /^multicast address/ },
    { address: "239.255.255.250", reason: /^multicast address/ },
    { address: "ff02::1", reason: /^multicast address/ },
    { address: "ff0e::101", reason: /^multicast address/ },
    { address: "::ffff:10.0.0.1", reason: /^IPv4-mapped IPv6 address/ },
    { address: "0:0:0:0:0:ffff:a00:1", reason: /^IPv4-mapped IPv6 address/ },
    { address: "fe80::1%eth0", reason: /zone index/ },
    { address: "2001:db8::1%2", reason: /zone index/ },
    { address: "010.0.0.1", reason: /^not an IP address$/ },
    { address: "10.0.0", reason: /^not an IP address$/ },
    { address: "10.0.0.1/32", reason: /^not an IP address$/ },
    { address: " 10.0.0.1", reason: /^not an IP address$/ },
    { address: "db.example.com", reason: /^not an IP address$/ },
    { address: "", reason: /^not an IP address$/ },
  ];
  for (const { address, reason } of refused) {
    it(`refuses ${JSON.stringify(address)} with a reason`, () => {
      const result = checkAddress(address);

      assert.equal(result.ok, false);
      assert.ok(!result.ok);
      assert.match(result.reason, reason);
    });
  }

  const accepted: { raw: string; address: string; family: "IPv4" | "IPv6" }[] = [
    { raw: "10.0.0.1", address: "10.0.0.1", family: "IPv4" },
    { raw: "192.0.2.255", address: "192.0.2.255", family: "IPv4" },
    { raw: "126.255.255.255", address: "126.255.255.255", family: "IPv4" },
    { raw: "169.253.255.255", address: "169.253.255.255", family: "IPv4" },
    { raw: "223.255.255.255", address: "223.255.255.255", family: "IPv4" },
    { raw: "2001:0db8:0:0::1", address: "2001:db8::1", family: "IPv6" },
    { raw: "2001:DB8:0000:0000:0000:0000:0000:0001", address: "2001:db8::1", family: "IPv6" },
    { raw: "fd00:0:0:0:0:0:0:a", address: "fd00::a", family: "IPv6" },
    { raw: "::2", address: "::2", family: "IPv6" },
    { raw: "fec0::1", address: "fec0::1", family: "IPv6" },
  ];
  for (const { raw, address, family } of accepted) {
    it(`accepts ${raw} as ${family} ${address}`, () => {
      assert.deepEqual(checkAddress(raw), { ok: true, address, family });
    });
  }
});

describe("mergeBackends", () => {
  const backend = (address: string, sources: string[], extra: Partial<Backend> = {}): Backend => ({
    address,
    family: address.includes(":") ? "IPv6" : "IPv4",
    sources,
    ...extra,
  });

  it("merges one address found by several sources, in any spelling, into one backend listing them all", () => {
    // Prepare
    const found = [backend("2001:0db8::0001", ["racks"]), backend("10.0.0.1", ["racks"]), backend("2001:db8::1", ["dns"]), backend("10.0.0.1", ["dns", "racks"])];

    // Act
    const { backends, rejected } = mergeBackends(found);

    // Assess
    assert.deepEqual(rejected, []);
    assert.deepEqual(backends, [
      { address: "2001:db8::1", family: "IPv6", sources: ["racks", "dns"] },
      { address: "10.0.0.1", family: "IPv4", sources: ["racks", "dns"] },
    ]);
  });

  it("keeps the first source's nodeName and hostname, and takes fields it left out from later ones", () => {
    const found = [
      backend("10.0.0.1", ["first"], { nodeName: "node-a", hostname: "db-1" }),
      backend("10.0.0.1", ["second"], { nodeName: "node-b", hostname: "db-2", zone: "eu-1b" }),
    ];

    const { backends } = mergeBackends(found);

    assert.deepEqual(backends, [{ address: "10.0.0.1", family: "IPv4", nodeName: "node-a", hostname: "db-1", zone: "eu-1b", sources: ["first", "second"] }]);
  });

  it("takes a field from a later source where the first one set it undefined, as a static entry without a zone does", () => {
    const found = [
      backend("10.0.0.1", ["static"], { nodeName: "node-a", hostname: undefined, zone: undefined }),
      backend("10.0.0.1", ["ec2"], { hostname: "ip-10-0-0-1", zone: "eu-west-1a" }),
    ];

    const [merged] = mergeBackends(found).backends;

    assert.deepEqual([merged?.nodeName, merged?.hostname, merged?.zone], ["node-a", "ip-10-0-0-1", "eu-west-1a"]);
  });

  it("sets aside refused addresses with their reason and every source that named them", () => {
    const found = [backend("127.0.0.1", ["a"]), backend("10.0.0.9", ["a"]), backend("127.0.0.1", ["b"]), backend("not-an-ip", ["b"])];

    const { backends, rejected } = mergeBackends(found);

    assert.deepEqual(backends.map((b) => b.address), ["10.0.0.9"]);
    assert.deepEqual(rejected, [
      { address: "127.0.0.1", sources: ["a", "b"], reason: "loopback address, refused by the API server" },
      { address: "not-an-ip", sources: ["b"], reason: "not an IP address" },
    ]);
  });

  it("sets the family from the address, not from what the source claimed", () => {
    const { backends } = mergeBackends([{ address: "2001:db8::5", family: "IPv4", sources: ["x"] }]);

    assert.equal(backends[0]?.family, "IPv6");
  });

  it("gives nothing for nothing", () => {
    assert.deepEqual(mergeBackends([]), { backends: [], rejected: [] });
  });
});
