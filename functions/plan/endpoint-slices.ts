import type { DiscoveryV1EndpointPort, V1Endpoint, V1EndpointSlice } from "@kubernetes/client-node";
import type { AddressFamily, DesiredEndpoint } from "../model.ts";
import { compareAddresses } from "../decide/addresses.ts";
import { canonical, type Change, diffEndpoints, type Readiness, sameData } from "./changes.ts";
import { sliceLabels } from "../registry/labels.ts";
import { ownerReferences, endpointPort, portsFor, type ServiceRef } from "./owner.ts";

/** The API's limit, and what the EndpointSlice controller uses. */
export const MAX_ENDPOINTS_PER_SLICE = 1000;

const FAMILIES: AddressFamily[] = ["IPv4", "IPv6"];

interface SlicePlan {
  name: string;
  existing: V1EndpointSlice | undefined;
  endpoints: V1Endpoint[];
  ports: DiscoveryV1EndpointPort[];
  /** The port set's key: a slice holds endpoints of one port set only. */
  group: string;
}

/**
 * Pure: the changes that turn our `existing` slices into ones holding `desired`, one set per address family
 * and port set (endpoints with ports of their own sit apart), as the EndpointSlice reconciler groups them.
 * Endpoints stay in the slice that holds them; new ones fill slices with room before new slices are made,
 * and a slice left empty takes the place of one that would be made, so a change touches as few slices as it can.
 * An endpoint moving to another port set never lands in a slice that gives one away in the same change, and a
 * port set holding more slices than its endpoints need is packed again.
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
    const groupPorts = new Map<string, DiscoveryV1EndpointPort[]>();
    // Most endpoints share the target's ports: one key per port number an endpoint has, not one per endpoint.
    const groupOf = new Map<number | undefined, string>();
    const wanted = new Map<string, { endpoint: V1Endpoint; group: string }>();
    for (const endpoint of desired) {
      if (endpoint.family !== family) continue;
      let group = groupOf.get(endpoint.port);
      if (group === undefined) {
        const ports = portsFor(service, endpoint.port);
        group = portsKey(ports);
        groupOf.set(endpoint.port, group);
        groupPorts.set(group, ports);
      }
      wanted.set(endpoint.address, { endpoint: sliceEndpoint(endpoint), group });
    }
    const desiredAddresses = new Set(wanted.keys());
    /** Address → the slice it leaves because its ports changed. */
    const leaving = new Map<string, SlicePlan>();
    /** Per slice, the desired endpoints it takes out: they move to, or already sit in, a slice of their port set. */
    const dropped = new Map<SlicePlan, string[]>();
    /** Addresses that the slice keeping them turns ready. */
    const turnedReady = new Set<string>();
    const plans: SlicePlan[] = existing
      .filter((slice) => slice.addressType === family)
      .sort((a, b) => compareAddresses(a.metadata?.name ?? "", b.metadata?.name ?? ""))
      .map((slice) => {
        const group = portsKey(slice.ports ?? []);
        const plan: SlicePlan = { name: slice.metadata?.name ?? "", existing: slice, endpoints: [], ports: groupPorts.get(group) ?? [], group };
        for (const endpoint of slice.endpoints ?? []) {
          const address = endpoint.addresses[0] ?? "";
          const want = wanted.get(address);
          if (want?.group === group) {
            if (want.endpoint.conditions?.ready && !(endpoint.conditions?.ready ?? true)) turnedReady.add(address);
            plan.endpoints.push(want.endpoint);
            wanted.delete(address);
            continue;
          }
          // An endpoint whose ports changed moves to a slice of its new port set (and a second copy goes).
          if (want) leaving.set(address, plan);
          if (desiredAddresses.has(address)) dropped.set(plan, [...(dropped.get(plan) ?? []), address]);
        }
        return plan;
      });
    // A slice taking out an endpoint that another adds or turns ready gives it away: applyChanges writes the taker
    // first, so a giver takes none from others (two slices swapping endpoints would each wait for the other).
    const givers = new Set([...dropped].filter(([, addresses]) => addresses.some((address) => wanted.has(address) || turnedReady.has(address))).map(([plan]) => plan));
    /** Slices that take endpoints from outside them this run. */
    const takers = new Set<SlicePlan>();

    const leftovers = new Map<string, V1Endpoint[]>();
    for (const { endpoint, group } of wanted.values()) {
      if (!leftovers.has(group)) leftovers.set(group, []);
      leftovers.get(group)!.push(endpoint);
    }
    const created: SlicePlan[] = [];
    for (const group of [...leftovers.keys()].sort(compareAddresses)) {
      const pending = leftovers.get(group)!.sort((a, b) => compareAddresses(a.addresses[0]!, b.addresses[0]!));
      let next = 0;
      // Slices that change anyway come first, then the fullest: fewer slices written, fewer kube-proxy updates.
      const withRoom = plans
        .filter((plan) => plan.group === group && plan.endpoints.length < maxPerSlice && !givers.has(plan))
        .sort((a, b) => Number(differs(service, family, b)) - Number(differs(service, family, a)) || b.endpoints.length - a.endpoints.length);
      for (const plan of withRoom) {
        if (next < pending.length) takers.add(plan);
        while (next < pending.length && plan.endpoints.length < maxPerSlice) plan.endpoints.push(pending[next++]!);
      }
      for (; next < pending.length; next += maxPerSlice) {
        created.push({ name: "", existing: undefined, endpoints: pending.slice(next, next + maxPerSlice), ports: groupPorts.get(group)!, group });
      }
    }
    // A slice to delete and one to create make one update of the old slice, as the reconciler does.
    const emptied = plans.filter((plan) => plan.existing && plan.endpoints.length === 0);
    for (const plan of created) {
      const from = new Set(plan.endpoints.flatMap((endpoint) => leaving.get(endpoint.addresses[0]!) ?? []));
      const reused = emptied.find((slice) => [...from].every((giver) => giver === slice));
      if (reused) {
        emptied.splice(emptied.indexOf(reused), 1);
        Object.assign(reused, { endpoints: plan.endpoints, ports: plan.ports, group: plan.group });
        takers.add(reused);
      } else plans.push({ ...plan, name: freeName(service.name, family, takenNames) });
    }
    // A port set left with more slices than its endpoints need (endpoints swapped port sets, and every slice with
    // room gave one away) is packed again: the smallest slice that takes nothing hands its endpoints to those
    // that give nothing away, and goes.
    for (const group of new Set(plans.map((plan) => plan.group))) {
      const members = plans.filter((plan) => plan.group === group && plan.endpoints.length > 0);
      const total = members.reduce((sum, plan) => sum + plan.endpoints.length, 0);
      if (members.length <= Math.ceil(total / maxPerSlice)) continue;
      const smallest = members.filter((plan) => plan.existing && !takers.has(plan)).sort((a, b) => a.endpoints.length - b.endpoints.length)[0];
      const receivers = members.filter((plan) => plan !== smallest && !givers.has(plan));
      if (!smallest || receivers.reduce((room, plan) => room + maxPerSlice - plan.endpoints.length, 0) < smallest.endpoints.length) continue;
      for (const plan of receivers) {
        while (smallest.endpoints.length > 0 && plan.endpoints.length < maxPerSlice) plan.endpoints.push(smallest.endpoints.pop()!);
      }
    }

    for (const plan of plans) {
      // Only for a slice that changes: at 10,000 endpoints, an unchanged run's readiness texts cost more than its diff.
      const before = () => readiness(service, plan.existing?.endpoints ?? [], plan.existing?.ports);
      if (plan.existing && plan.endpoints.length === 0) {
        changes.push({ action: "delete", object: { ...plan.existing, kind: "EndpointSlice" }, endpoints: diffEndpoints(before(), new Map()) });
        continue;
      }
      if (plan.existing && !differs(service, family, plan)) continue;
      const object = buildSlice(service, family, plan);
      changes.push({ action: plan.existing ? "update" : "create", object, endpoints: diffEndpoints(before(), readiness(service, plan.endpoints, plan.ports)) });
    }
  }
  return changes;
}

function sliceEndpoint(endpoint: DesiredEndpoint): V1Endpoint {
  return {
    addresses: [endpoint.address],
    // A failing backend is neither ready nor serving; a draining one is terminating, and serving if it still passes.
    conditions: { ready: endpoint.ready, serving: endpoint.serving ?? endpoint.ready, terminating: endpoint.terminating ?? false },
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
      labels: { ...metadata?.labels, ...sliceLabels(service.name, service.writer) },
      ownerReferences: ownerReferences(service),
    },
    addressType: family,
    endpoints: [...plan.endpoints].sort((a, b) => compareAddresses(a.addresses[0]!, b.addresses[0]!)),
    ports: plan.ports,
  };
}

/** Whether the slice we would write differs from the one in the cluster, in anything we own. */
function differs(service: ServiceRef, family: AddressFamily, plan: SlicePlan): boolean {
  const slice = plan.existing;
  if (!slice) return true;
  const ours = sliceLabels(service.name, service.writer);
  const labels = slice.metadata?.labels ?? {};
  return (
    Object.entries(ours).some(([key, value]) => labels[key] !== value) ||
    !sameData(slice.metadata?.ownerReferences ?? [], ownerReferences(service)) ||
    portsKey(slice.ports ?? []) !== portsKey(plan.ports) ||
    !sameData(normalizeEndpoints(slice.endpoints ?? []), normalizeEndpoints(plan.endpoints)) ||
    slice.addressType !== family
  );
}

/** A port set as comparable text: the API server's defaults filled in, in name order. */
function portsKey(ports: { name?: string; port?: number; protocol?: string; appProtocol?: string }[]): string {
  return canonical(
    ports
      .map((port) => ({ name: port.name ?? "", port: port.port, protocol: port.protocol ?? "TCP", appProtocol: port.appProtocol }))
      .sort((a, b) => compareAddresses(a.name, b.name)),
  );
}

function normalizeEndpoints(endpoints: V1Endpoint[]) {
  return endpoints
    .map(({ addresses, conditions, hostname, nodeName, zone }) => ({ addresses, conditions, hostname, nodeName, zone }))
    .sort((a, b) => compareAddresses(a.addresses[0] ?? "", b.addresses[0] ?? ""));
}

function readiness(service: ServiceRef, endpoints: V1Endpoint[], ports: DiscoveryV1EndpointPort[] | undefined): Readiness {
  const port = endpointPort(service, ports);
  return new Map(
    endpoints.map(({ addresses, conditions, hostname, nodeName, zone }) => {
      const ready = conditions?.ready ?? true;
      const draining = [conditions?.serving ?? ready, conditions?.terminating ?? false];
      return [addresses[0] ?? "", { ready, fields: canonical([hostname, nodeName, zone, ...draining, port]) }];
    }),
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
