import type { V1EndpointAddress, V1Endpoints } from "@kubernetes/client-node";
import type { DesiredEndpoint } from "../model.ts";
import { compareAddresses } from "../decide/addresses.ts";
import { canonical, type Change, diffEndpoints, type Readiness, sameData } from "./changes.ts";
import { endpointsLabels } from "../registry/labels.ts";
import { ownerReferences, endpointPort, portsFor, type ServiceRef } from "./owner.ts";

/**
 * Pure: the change, if any, that makes the Endpoints named after the Service hold `desired`
 * (`undefined` when the target does not publish Endpoints).
 */
export function planEndpoints(service: ServiceRef, desired: DesiredEndpoint[] | undefined, existing: V1Endpoints | undefined): Change[] {
  if (desired === undefined) {
    return existing ? [{ action: "delete", object: { ...existing, kind: "Endpoints" }, endpoints: diffEndpoints(readiness(service, existing), new Map()) }] : [];
  }
  if (!existing && desired.length === 0) return [];
  const object = buildEndpoints(service, desired, existing);
  if (existing && !differs(existing, object)) return [];
  return [{ action: existing ? "update" : "create", object, endpoints: diffEndpoints(readiness(service, existing), readiness(service, object)) }];
}

function buildEndpoints(service: ServiceRef, desired: DesiredEndpoint[], existing: V1Endpoints | undefined): V1Endpoints & { kind: "Endpoints" } {
  const toAddress = ({ address, hostname, nodeName }: DesiredEndpoint): V1EndpointAddress => ({ ip: address, hostname, nodeName });
  // One subset per port set: endpoints with ports of their own (SRV, an EC2 port tag) sit apart.
  const byPorts = new Map<string, { ports: ReturnType<typeof portsFor>; endpoints: DesiredEndpoint[] }>();
  const keyOf = new Map<number | undefined, string>();
  for (const endpoint of [...desired].sort((a, b) => compareAddresses(a.address, b.address))) {
    let key = keyOf.get(endpoint.port);
    if (key === undefined) {
      const ports = portsFor(service, endpoint.port);
      key = canonical(ports);
      keyOf.set(endpoint.port, key);
      // An endpoint's own port may equal the target's: the same subset.
      if (!byPorts.has(key)) byPorts.set(key, { ports, endpoints: [] });
    }
    byPorts.get(key)!.endpoints.push(endpoint);
  }
  const subsets = [...byPorts.keys()].sort(compareAddresses).map((key) => {
    const { ports, endpoints } = byPorts.get(key)!;
    const addresses = endpoints.filter((endpoint) => endpoint.ready).map(toAddress);
    const notReadyAddresses = endpoints.filter((endpoint) => !endpoint.ready).map(toAddress);
    return { addresses: addresses.length > 0 ? addresses : undefined, notReadyAddresses: notReadyAddresses.length > 0 ? notReadyAddresses : undefined, ports };
  });
  const metadata = existing?.metadata;
  return {
    apiVersion: "v1",
    kind: "Endpoints",
    metadata: {
      ...metadata,
      managedFields: undefined,
      name: service.name,
      namespace: service.namespace,
      labels: { ...metadata?.labels, ...endpointsLabels(service.writer) },
      ownerReferences: ownerReferences(service),
    },
    subsets,
  };
}

function differs(existing: V1Endpoints, wanted: V1Endpoints): boolean {
  const labels = existing.metadata?.labels ?? {};
  return (
    Object.entries(wanted.metadata?.labels ?? {}).some(([key, value]) => labels[key] !== value) ||
    !sameData(existing.metadata?.ownerReferences ?? [], wanted.metadata?.ownerReferences ?? []) ||
    !sameData(normalizeSubsets(existing), normalizeSubsets(wanted))
  );
}

/** The API server may split or reorder subsets; compare what they mean. */
function normalizeSubsets(endpoints: V1Endpoints) {
  const entries = (endpoints.subsets ?? []).flatMap((subset) => {
    const ports = canonical((subset.ports ?? []).map((port) => ({ ...port, name: port.name ?? "", protocol: port.protocol ?? "TCP" })).sort((a, b) => compareAddresses(a.name, b.name)));
    const list = (addresses: V1EndpointAddress[] | undefined, ready: boolean) =>
      (addresses ?? []).map(({ ip, hostname, nodeName }) => ({ ip, hostname, nodeName, ready, ports }));
    return [...list(subset.addresses, true), ...list(subset.notReadyAddresses, false)];
  });
  return entries.sort((a, b) => compareAddresses(a.ip, b.ip));
}

function readiness(service: ServiceRef, endpoints: V1Endpoints | undefined): Readiness {
  const map: Readiness = new Map();
  for (const subset of endpoints?.subsets ?? []) {
    const port = endpointPort(service, subset.ports);
    for (const [list, ready] of [[subset.addresses, true], [subset.notReadyAddresses, false]] as const) {
      for (const { ip, hostname, nodeName } of list ?? []) map.set(ip, { ready, fields: canonical([hostname, nodeName, port]) });
    }
  }
  return map;
}
