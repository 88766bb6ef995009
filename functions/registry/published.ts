import type { V1EndpointSlice, V1Endpoints } from "@kubernetes/client-node";
import type { AddressFamily, DesiredEndpoint } from "../model.ts";

/**
 * What is published now, read back from our own objects: the slices, with the Endpoints laid over them. Where
 * the two disagree (a write to one failed), an endpoint ready in either counts as ready, so the guards count
 * removals against what any reader saw: no reader of either loses more than they allow.
 */
export function publishedEndpoints(slices: V1EndpointSlice[], endpoints: V1Endpoints | undefined): DesiredEndpoint[] {
  const byAddress = new Map<string, DesiredEndpoint>();
  for (const slice of slices) {
    if (slice.addressType !== "IPv4" && slice.addressType !== "IPv6") continue;
    const port = singlePort(slice.ports);
    for (const endpoint of slice.endpoints ?? []) {
      const address = endpoint.addresses[0];
      if (address === undefined) continue;
      const conditions = endpoint.conditions;
      byAddress.set(address, {
        address,
        family: slice.addressType,
        ready: conditions?.ready ?? true,
        ...(conditions?.terminating && { terminating: true, serving: conditions.serving ?? false }),
        ...(port !== undefined && { port }),
        hostname: endpoint.hostname,
        nodeName: endpoint.nodeName,
        zone: endpoint.zone,
      });
    }
  }
  for (const subset of endpoints?.subsets ?? []) {
    const port = singlePort(subset.ports);
    for (const [list, ready] of [[subset.addresses, true], [subset.notReadyAddresses, false]] as const) {
      for (const address of list ?? []) {
        const inSlice = byAddress.get(address.ip);
        if (inSlice) {
          if (ready && !inSlice.ready && !inSlice.terminating) byAddress.set(address.ip, { ...inSlice, ready: true });
          continue;
        }
        const family: AddressFamily = address.ip.includes(":") ? "IPv6" : "IPv4";
        byAddress.set(address.ip, { address: address.ip, family, ready, ...(port !== undefined && { port }), hostname: address.hostname, nodeName: address.nodeName });
      }
    }
  }
  return [...byAddress.values()];
}

/** A backend with a port of its own sits with a single port (ports of its own need a single-port target). */
function singlePort(ports: { port?: number }[] | undefined): number | undefined {
  return ports?.length === 1 ? ports[0]!.port : undefined;
}
