import type { V1EndpointSlice, V1Endpoints } from "@kubernetes/client-node";
import type { AddressFamily, DesiredEndpoint } from "../model.ts";

/** What readers of our slices see, and what readers of our Endpoints see: apart only where a write failed. */
export interface PublishedViews {
  slices: DesiredEndpoint[] | undefined;
  endpoints: DesiredEndpoint[] | undefined;
}

/** Each kind of reader's view, read back from our own objects; a view is absent when we keep no such object. */
export function publishedViews(slices: V1EndpointSlice[], endpoints: V1Endpoints | undefined): PublishedViews {
  return { slices: slices.length > 0 ? fromSlices(slices) : undefined, endpoints: endpoints ? fromEndpoints(endpoints) : undefined };
}

/**
 * What is published now: the slices, with the Endpoints laid over them. Where the two disagree (a write to one
 * failed), an endpoint ready in either counts as ready, so the guards never count against less than a reader saw.
 */
export function publishedEndpoints(slices: V1EndpointSlice[], endpoints: V1Endpoints | undefined): DesiredEndpoint[] {
  return overlaid(publishedViews(slices, endpoints));
}

/** publishedEndpoints over views already read. */
export function overlaid(views: PublishedViews): DesiredEndpoint[] {
  const byAddress = new Map((views.slices ?? []).map((endpoint) => [endpoint.address, endpoint]));
  for (const endpoint of views.endpoints ?? []) {
    const inSlice = byAddress.get(endpoint.address);
    if (!inSlice) byAddress.set(endpoint.address, endpoint);
    else if (endpoint.ready && !inSlice.ready && !inSlice.terminating) byAddress.set(endpoint.address, { ...inSlice, ready: true });
  }
  return [...byAddress.values()];
}

// An address in two slices (or subsets), left by a write that failed while it moved to another port set,
// counts as its readers see it: ready where any copy is.
function fromSlices(slices: V1EndpointSlice[]): DesiredEndpoint[] {
  const byAddress = new Map<string, DesiredEndpoint>();
  for (const slice of slices) {
    if (slice.addressType !== "IPv4" && slice.addressType !== "IPv6") continue;
    const port = singlePort(slice.ports);
    for (const endpoint of slice.endpoints ?? []) {
      const address = endpoint.addresses[0];
      if (address === undefined) continue;
      const conditions = endpoint.conditions;
      if (byAddress.get(address)?.ready) continue;
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
  return [...byAddress.values()];
}

function fromEndpoints(endpoints: V1Endpoints): DesiredEndpoint[] {
  const byAddress = new Map<string, DesiredEndpoint>();
  for (const subset of endpoints.subsets ?? []) {
    const port = singlePort(subset.ports);
    for (const [list, ready] of [[subset.addresses, true], [subset.notReadyAddresses, false]] as const) {
      for (const address of list ?? []) {
        if (byAddress.get(address.ip)?.ready) continue;
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
