import { isIP } from "node:net";
import type { Filter, Instance, InstanceNetworkInterface } from "@aws-sdk/client-ec2";
import type { Ec2SourceConfig } from "../config/schema.ts";
import type { Backend, SourceResult } from "../model.ts";
import { describeAwsError, ec2Client } from "./aws.ts";
import { isDnsLabel } from "./names.ts";
import type { Source } from "./source.ts";
import { summarizeSkipped, type Skipped } from "./skipped.ts";

/** DescribeInstances' largest page. */
const PAGE_SIZE = 1000;
/** Without an instance-state-name filter of the user's: what can serve or is draining; never stopped or terminated. */
const DEFAULT_STATES = ["running", "stopping", "shutting-down"];
const DRAINING_STATES = new Set(["stopping", "shutting-down"]);

/** Instances found with DescribeInstances, filtered on the server side, in one or more regions. */
export class Ec2Source implements Source {
  readonly name: string;
  readonly #config: Ec2SourceConfig;
  readonly #filters: Filter[];

  constructor(name: string, config: Ec2SourceConfig) {
    this.name = name;
    this.#config = config;
    this.#filters = describeFilters(config);
  }

  async discover(signal: AbortSignal): Promise<SourceResult> {
    // Every region or none: a region that could not be read must not look like one without instances.
    const regions = await Promise.allSettled(this.#config.regions.map((region) => this.#discoverRegion(region, signal)));
    const failures = regions.flatMap((region) => (region.status === "rejected" ? [String((region.reason as Error).message)] : []));
    if (failures.length > 0) return { source: this.name, status: "failed", error: failures.join("; ") };
    const found = regions.flatMap((region) => (region.status === "fulfilled" ? [region.value] : []));
    const warnings = summarizeSkipped(found.flatMap((region) => region.skipped));
    return { source: this.name, status: "ok", backends: found.flatMap((region) => region.backends), ...(warnings.length > 0 && { warnings }) };
  }

  async #discoverRegion(region: string, signal: AbortSignal): Promise<{ backends: Backend[]; skipped: Skipped[] }> {
    const call = `ec2 DescribeInstances in ${region}`;
    const backends: Backend[] = [];
    const skipped: Skipped[] = [];
    try {
      const client = await ec2Client(region, this.#config);
      const { DescribeInstancesCommand } = await import("../aws/sdk-ec2.ts");
      let nextToken: string | undefined;
      do {
        const page = await client.send(new DescribeInstancesCommand({ Filters: this.#filters, MaxResults: PAGE_SIZE, NextToken: nextToken }), { abortSignal: signal });
        for (const instance of (page.Reservations ?? []).flatMap((reservation) => reservation.Instances ?? [])) {
          const result = instanceBackends(instance, this.#config, this.name);
          if ("skipped" in result) skipped.push(result.skipped);
          else backends.push(...result.backends);
        }
        nextToken = page.NextToken || undefined;
      } while (nextToken);
    } catch (error) {
      throw new Error(describeAwsError(call, error));
    }
    return { backends, skipped };
  }
}

/** The config's tags and filters as DescribeInstances filters, with the default state filter unless the user gave one. */
export function describeFilters(config: Pick<Ec2SourceConfig, "tags" | "filters">): Filter[] {
  const values = (value: string | string[]) => (Array.isArray(value) ? value : [value]);
  const filters: Filter[] = [
    ...Object.entries(config.tags ?? {}).map(([key, value]) => ({ Name: `tag:${key}`, Values: values(value) })),
    ...Object.entries(config.filters ?? {}).map(([name, value]) => ({ Name: name, Values: values(value) })),
  ];
  if (config.filters?.["instance-state-name"] === undefined) filters.push({ Name: "instance-state-name", Values: DEFAULT_STATES });
  return filters;
}

/** Pure: an instance's backends as the config chooses its address and port, or why it has none. */
export function instanceBackends(
  instance: Instance,
  config: Pick<Ec2SourceConfig, "address" | "deviceIndex" | "port" | "portTag">,
  sourceName: string,
): { backends: Backend[] } | { skipped: Skipped } {
  const id = instance.InstanceId ?? "(no id)";
  const tags = new Map((instance.Tags ?? []).map((tag) => [tag.Key ?? "", tag.Value ?? ""]));
  const skip = (reason: string) => ({ skipped: { reason, resource: id } });

  let port = config.port;
  if (config.portTag !== undefined) {
    const text = tags.get(config.portTag);
    if (text === undefined) return skip(`no tag ${JSON.stringify(config.portTag)} to take the port from`);
    port = /^\d{1,5}$/.test(text) ? Number(text) : 0;
    if (port < 1 || port > 65535) return skip(`tag ${JSON.stringify(config.portTag)} is not a port (1-65535)`);
  }

  const chosen = config.deviceIndex ?? 0;
  const networkInterface = (instance.NetworkInterfaces ?? []).find((item) => item.Attachment?.DeviceIndex === chosen);
  if (config.deviceIndex !== undefined && !networkInterface) return skip(`no network interface at device index ${config.deviceIndex}`);
  const addresses = chooseAddresses(instance, networkInterface, config);
  if (addresses.length === 0) return skip(`no ${ADDRESS_WORDS[config.address]}${config.deviceIndex === undefined ? "" : ` on device index ${config.deviceIndex}`}`);

  const state = instance.State?.Name ?? "unknown";
  const zone = instance.Placement?.AvailabilityZone;
  const name = tags.get("Name");
  const terminating = DRAINING_STATES.has(state);
  return {
    backends: addresses.map((address) => ({
      address,
      family: isIP(address) === 6 ? "IPv6" : "IPv4",
      hostname: name !== undefined && isDnsLabel(name) ? name : id,
      zone,
      sources: [sourceName],
      ...(port !== undefined && { port }),
      ...(terminating && { terminating }),
      origins: [`${sourceName}: ${id} in ${zone ?? "no zone"}, ${state}`],
    })),
  };
}

const ADDRESS_WORDS: Record<Ec2SourceConfig["address"], string> = {
  privateIPv4: "private IPv4 address",
  publicIPv4: "public IPv4 address",
  primaryIPv6: "IPv6 address",
  allIPv6: "IPv6 address",
};

function chooseAddresses(instance: Instance, networkInterface: InstanceNetworkInterface | undefined, config: Pick<Ec2SourceConfig, "address" | "deviceIndex">): string[] {
  const onInterface = config.deviceIndex !== undefined;
  const ipv6 = (item: InstanceNetworkInterface | undefined) => (item?.Ipv6Addresses ?? []).flatMap((entry) => (entry.Ipv6Address ? [entry] : []));
  switch (config.address) {
    case "privateIPv4":
      return present(onInterface ? networkInterface?.PrivateIpAddress : instance.PrivateIpAddress);
    case "publicIPv4":
      return present(onInterface ? networkInterface?.Association?.PublicIp : instance.PublicIpAddress);
    case "primaryIPv6": {
      // The address EC2 flags primary, else the interface's first: stable as long as the interface keeps it.
      const candidates = ipv6(networkInterface);
      return present((candidates.find((entry) => entry.IsPrimaryIpv6) ?? candidates[0])?.Ipv6Address);
    }
    case "allIPv6": {
      const interfaces = onInterface ? [networkInterface] : (instance.NetworkInterfaces ?? []);
      return interfaces.flatMap((item) => ipv6(item).map((entry) => entry.Ipv6Address!));
    }
  }
}

const present = (address: string | undefined): string[] => (address ? [address] : []);
