import type { V1Endpoint, V1EndpointSlice } from "@kubernetes/client-node";
import type { AddressFamily, DesiredEndpoint } from "../model.ts";
import { canonical, type Change, compareAddresses, diffEndpoints, type Readiness } from "./changes.ts";
import { sliceLabels } from "./labels.ts";
import { endpointPorts, ownerReferences, type ServiceRef } from "./owner.ts";

/** The API's limit, and what the EndpointSlice controller uses. */
export const MAX_ENDPOINTS_PER_SLICE = 1000;

const FAMILIES: AddressFamily[] = ["IPv4", "IPv6"];

interface SlicePlan {
  name: string;
  existing: V1EndpointSlice | undefined;
  endpoints: V1Endpoint[];
}

/**
 * Pure: the changes that turn our `existing` slices into ones holding `desired`, one set per address family.
 * Endpoints stay in the slice that holds them; new ones fill slices with room before new slices are made,
 * as the EndpointSlice reconciler does, so a change touches as few slices as it can.
 */
export function planEndpointSlices(
  service: ServiceRef,
  desired: DesiredEndpoint[],
  existing: V1EndpointSlice[],
  foreignNames: string[] = [],
  maxPerSlice = MAX_ENDPOINTS_PER_SLICE,
): Change[] {
  const takenNames = new Set([...foreignNames, ...existing.map((slice) => slice.metadata?.name ?? "")]);
  const changes: Change[] = [];
  for (const family of FAMILIES) {
    const wanted = new Map(
      desired.filter((endpoint) => endpoint.family === family).map((endpoint) => [endpoint.address, sliceEndpoint(endpoint)]),
    );
    const plans: SlicePlan[] = existing
      .filter((slice) => slice.addressType === family)
      .sort((a, b) => compareAddresses(a.metadata?.name ?? "", b.metadata?.name ?? ""))
      .map((slice) => {
        const endpoints: V1Endpoint[] = [];
        for (const endpoint of slice.endpoints ?? []) {
          const address = endpoint.addresses[0] ?? "";
          const next = wanted.get(address);
          if (next) endpoints.push(next);
          wanted.delete(address);
        }
        return { name: slice.metadata?.name ?? "", existing: slice, endpoints };
      });

    const leftovers = [...wanted.values()].sort((a, b) => compareAddresses(a.addresses[0]!, b.addresses[0]!));
    let next = 0;
    // Slices that change anyway come first, then the fullest: fewer slices written, fewer kube-proxy updates.
    const withRoom = plans
      .filter((plan) => plan.endpoints.length < maxPerSlice)
      .sort((a, b) => Number(differs(service, family, b)) - Number(differs(service, family, a)) || b.endpoints.length - a.endpoints.length);
    for (const plan of withRoom) {
      while (next < leftovers.length && plan.endpoints.length < maxPerSlice) plan.endpoints.push(leftovers[next++]!);
    }
    while (next < leftovers.length) {
      const name = freeName(service.name, family, takenNames);
      plans.push({ name, existing: undefined, endpoints: leftovers.slice(next, next + maxPerSlice) });
      next += maxPerSlice;
    }

    for (const plan of plans) {
      const before = readiness(plan.existing?.endpoints ?? []);
      if (plan.existing && plan.endpoints.length === 0) {
        changes.push({ action: "delete", object: { ...plan.existing, kind: "EndpointSlice" }, endpoints: diffEndpoints(before, new Map()) });
        continue;
      }
      if (plan.existing && !differs(service, family, plan)) continue;
      const object = buildSlice(service, family, plan);
      changes.push({ action: plan.existing ? "update" : "create", object, endpoints: diffEndpoints(before, readiness(plan.endpoints)) });
    }
  }
  return changes;
}

function sliceEndpoint(endpoint: DesiredEndpoint): V1Endpoint {
  return {
    addresses: [endpoint.address],
    // A failing backend is neither ready nor serving; terminating is for draining, which static backends never do.
    conditions: { ready: endpoint.ready, serving: endpoint.ready, terminating: false },
    hostname: endpoint.hostname,
    nodeName: endpoint.nodeName,
    zone: endpoint.zone,
  };
}

function buildSlice(service: ServiceRef, family: AddressFamily, plan: SlicePlan): V1EndpointSlice & { kind: "EndpointSlice" } {
  const metadata = plan.existing?.metadata;
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: {
      ...metadata,
      managedFields: undefined,
      name: plan.name,
      namespace: service.namespace,
      labels: { ...metadata?.labels, ...sliceLabels(service.name, service.ownerId) },
      ownerReferences: ownerReferences(service),
    },
    addressType: family,
    endpoints: [...plan.endpoints].sort((a, b) => compareAddresses(a.addresses[0]!, b.addresses[0]!)),
    ports: endpointPorts(service.ports),
  };
}

/** Whether the slice we would write differs from the one in the cluster, in anything we own. */
function differs(service: ServiceRef, family: AddressFamily, plan: SlicePlan): boolean {
  const slice = plan.existing;
  if (!slice) return true;
  const ours = sliceLabels(service.name, service.ownerId);
  const labels = slice.metadata?.labels ?? {};
  return (
    Object.entries(ours).some(([key, value]) => labels[key] !== value) ||
    canonical(slice.metadata?.ownerReferences ?? []) !== canonical(ownerReferences(service)) ||
    canonical(normalizePorts(slice.ports ?? [])) !== canonical(normalizePorts(endpointPorts(service.ports))) ||
    canonical(normalizeEndpoints(slice.endpoints ?? [])) !== canonical(normalizeEndpoints(plan.endpoints)) ||
    slice.addressType !== family
  );
}

function normalizePorts(ports: { name?: string; port?: number; protocol?: string; appProtocol?: string }[]) {
  return ports
    .map((port) => ({ name: port.name ?? "", port: port.port, protocol: port.protocol ?? "TCP", appProtocol: port.appProtocol }))
    .sort((a, b) => compareAddresses(a.name, b.name));
}

function normalizeEndpoints(endpoints: V1Endpoint[]) {
  return endpoints
    .map(({ addresses, conditions, hostname, nodeName, zone }) => ({ addresses, conditions, hostname, nodeName, zone }))
    .sort((a, b) => compareAddresses(a.addresses[0] ?? "", b.addresses[0] ?? ""));
}

function readiness(endpoints: V1Endpoint[]): Readiness {
  return new Map(
    endpoints.map((endpoint) => [
      endpoint.addresses[0] ?? "",
      { ready: endpoint.conditions?.ready ?? true, fields: canonical([endpoint.hostname, endpoint.nodeName, endpoint.zone]) },
    ]),
  );
}

function freeName(service: string, family: AddressFamily, taken: Set<string>): string {
  for (let index = 0; ; index++) {
    const name = `${service}-${family.toLowerCase()}-${index}`;
    if (!taken.has(name)) {
      taken.add(name);
      return name;
    }
  }
}
