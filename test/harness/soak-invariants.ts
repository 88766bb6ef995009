// The fault soak's invariants (test/harness/soak.ts checks them after every run), read as cluster-admin straight
// from the API server. "Ready" means published ready: in our slices (conditions.ready, absent counting as
// true), and separately in our Endpoints (addresses, not notReadyAddresses); "before" is what the previous run
// left.
// - foreign: objects that are not ours (another manager's slice for one of our Services, a hand-made Endpoints,
//   another installation's slice, Endpoints and ConfigMap, a ConfigMap named like our memory) keep their
//   resourceVersion, and the audit log shows no write of the syncer to any of them;
// - removals: per Service, the addresses ready before the run and not after are at most maxRemovalsPerRun (of
//   the ready count before), as slice readers see them and as Endpoints readers do;
// - neverEmpty: a Service with ready endpoints never ends a run with none (every target here always has a
//   source that finds backends, so "unless every source answered empty" never applies);
// - minHealthy: with a count m, the ready endpoints after a run are at least min(m, before);
// - kept: a configured target that had slices and Endpoints of ours before the run still has them;
//   pruned: after a run whose pruning succeeded, nothing of ours is left for a Service not in the config;
// - duplicates: per Service, address family and port set, our slices hold no address twice (unless the run
//   failed or was killed part-way: an endpoint moving between slices is in the new one before it leaves the
//   old), none is empty, and there are no more than one per 1,000 endpoints, and one more (for a run, after a
//   swap of port sets); no mirrored slice (the mirroring controller's) exists for a Service of ours (our
//   Endpoints' skip-mirror label kept it out);
// - addresses: every address in our slices is one a source of that target can give;
// - labels: what README's *What it writes* says (labelProblems).
import type { V1ConfigMap, V1EndpointSlice, V1Endpoints, V1ObjectMeta } from "@kubernetes/client-node";
import type { RunReport } from "../../functions/report/report.ts";
import type { TestCluster } from "./cluster.ts";

export const SOAK_NAMESPACE = "ees-soak";
export const SOAK_OWNER = "default";

export interface Violation {
  run: number;
  invariant: string;
  detail: string;
}

export interface Guards {
  minHealthy?: number;
  maxRemovalsPerRun?: number | string;
  neverEmpty?: boolean;
}

/** What the invariants need to know of a target. */
export interface InvariantTarget {
  /** Every address a source of this target can give. */
  universe: string[];
  guards: Guards;
}

export interface Published {
  address: string;
  ready?: boolean;
  port: number;
}

export interface ForeignObject {
  /** `resource/name`, as the audit log names it. */
  key: string;
  resourceVersion: string;
}

export interface ClusterState {
  slices: V1EndpointSlice[];
  endpoints: V1Endpoints[];
  configMaps: V1ConfigMap[];
  serviceUids: Map<string, string>;
  /** Our slices of a Service. */
  slicesOf(service: string): V1EndpointSlice[];
  readyOf(service: string): Set<string>;
  /** The ready addresses of our Endpoints of a Service. */
  endpointsReadyOf(service: string): Set<string>;
  /** Address → how our slices publish it. */
  publishedOf(service: string): Map<string, Published>;
  /** The resourceVersion of `resource/name`, if it exists. */
  versionOf(key: string): string | undefined;
}

const MANAGER = "external-endpoint-syncer";
export const isOurs = (metadata: V1ObjectMeta | undefined) =>
  metadata?.labels?.["app.kubernetes.io/managed-by"] === MANAGER && metadata.labels["external-endpoint-syncer/owner"] === SOAK_OWNER;

export async function readState(cluster: TestCluster, serviceUids: Map<string, string>): Promise<ClusterState> {
  const { core, discovery } = cluster.admin;
  const [slices, endpoints, configMaps] = await Promise.all([
    discovery.listNamespacedEndpointSlice({ namespace: SOAK_NAMESPACE }),
    core.listEndpointsForAllNamespaces({ fieldSelector: `metadata.namespace=${SOAK_NAMESPACE}` }),
    core.listNamespacedConfigMap({ namespace: SOAK_NAMESPACE }),
  ]);
  const slicesOf = (service: string) =>
    slices.items.filter((slice) => isOurs(slice.metadata) && slice.metadata?.labels?.["kubernetes.io/service-name"] === service);
  const publishedOf = (service: string) =>
    new Map(
      slicesOf(service).flatMap((slice) =>
        (slice.endpoints ?? []).map((endpoint): [string, Published] => {
          const address = endpoint.addresses[0]!;
          return [address, { address, ready: endpoint.conditions?.ready ?? true, port: slice.ports?.[0]?.port ?? 0 }];
        }),
      ),
    );
  const versions = new Map<string, string | undefined>([
    ...slices.items.map((item) => [`endpointslices/${item.metadata?.name}`, item.metadata?.resourceVersion] as const),
    ...endpoints.items.map((item) => [`endpoints/${item.metadata?.name}`, item.metadata?.resourceVersion] as const),
    ...configMaps.items.map((item) => [`configmaps/${item.metadata?.name}`, item.metadata?.resourceVersion] as const),
  ]);
  return {
    slices: slices.items,
    endpoints: endpoints.items,
    configMaps: configMaps.items,
    serviceUids,
    slicesOf,
    endpointsReadyOf: (service) =>
      new Set(
        endpoints.items
          .filter((item) => item.metadata?.name === service && isOurs(item.metadata))
          .flatMap((item) => (item.subsets ?? []).flatMap((subset) => (subset.addresses ?? []).map((address) => address.ip))),
      ),
    // Ready in any of our slices: an address a failed move left in two is ready to readers where either copy is.
    readyOf: (service) =>
      new Set(slicesOf(service).flatMap((slice) => (slice.endpoints ?? []).filter((endpoint) => endpoint.conditions?.ready ?? true).map((endpoint) => endpoint.addresses[0]!))),
    publishedOf,
    versionOf: (key) => versions.get(key),
  };
}

/**
 * README's *What it writes*, for one of our objects of `service`: the labels each kind carries and the owner
 * reference to the Service. One place, so new labels are one line each.
 */
function labelProblems(kind: "EndpointSlice" | "Endpoints" | "ConfigMap", metadata: V1ObjectMeta | undefined, service: string, serviceUid: string | undefined): string[] {
  const labels = metadata?.labels ?? {};
  const wanted: Record<string, string> = { "app.kubernetes.io/managed-by": MANAGER, "external-endpoint-syncer/owner": SOAK_OWNER };
  if (kind === "EndpointSlice") Object.assign(wanted, { "endpointslice.kubernetes.io/managed-by": MANAGER, "kubernetes.io/service-name": service });
  if (kind === "Endpoints") Object.assign(wanted, { "endpointslice.kubernetes.io/skip-mirror": "true" });
  if (kind === "ConfigMap") Object.assign(wanted, { "external-endpoint-syncer/service": service });
  const problems = Object.entries(wanted)
    .filter(([key, value]) => labels[key] !== value)
    .map(([key, value]) => `${kind} ${metadata?.name}: label ${key} is ${JSON.stringify(labels[key])}, expected ${JSON.stringify(value)}`);
  const owners = metadata?.ownerReferences ?? [];
  if (!owners.some((owner) => owner.kind === "Service" && owner.name === service && owner.uid === serviceUid)) {
    problems.push(`${kind} ${metadata?.name}: no owner reference to Service ${service} (${serviceUid}): ${JSON.stringify(owners)}`);
  }
  return problems;
}

export function amountOf(setting: number | string, total: number): number {
  return typeof setting === "number" ? setting : Math.ceil((Number.parseInt(setting, 10) / 100) * total);
}

export function checkInvariants(input: {
  run: number;
  before: ClusterState;
  after: ClusterState;
  report: RunReport | undefined;
  targets: Map<string, InvariantTarget>;
  configured: Set<string>;
  wasConfigured: Set<string>;
  foreign: ForeignObject[];
}): Violation[] {
  const { run, before, after, report, targets, configured, wasConfigured } = input;
  const violations: Violation[] = [];
  const fail = (invariant: string, detail: string) => violations.push({ run, invariant, detail });

  for (const object of input.foreign) {
    const now = after.versionOf(object.key);
    if (now !== object.resourceVersion) fail("foreign", `${object.key} resourceVersion ${object.resourceVersion} → ${now ?? "deleted"}`);
  }

  for (const [service, target] of targets) {
    const slices = after.slicesOf(service);
    const ourEndpoints = after.endpoints.find((item) => item.metadata?.name === service && isOurs(item.metadata));
    const memory = after.configMaps.find((item) => item.metadata?.name === `${service}-ees-memory` && isOurs(item.metadata));

    if (configured.has(service)) {
      // The guards' floors, as slice readers see them and as Endpoints readers do.
      for (const [what, readyBefore, readyAfter] of [
        ["slices", before.readyOf(service), after.readyOf(service)],
        ["Endpoints", before.endpointsReadyOf(service), after.endpointsReadyOf(service)],
      ] as const) {
        const removed = [...readyBefore].filter((address) => !readyAfter.has(address));
        const { maxRemovalsPerRun, minHealthy, neverEmpty = true } = target.guards;
        if (maxRemovalsPerRun !== undefined && removed.length > amountOf(maxRemovalsPerRun, readyBefore.size)) {
          fail("removals", `${service} ${what}: ${removed.length} ready endpoints removed (${removed.join(", ")}) of ${readyBefore.size}, maxRemovalsPerRun ${maxRemovalsPerRun}`);
        }
        if (neverEmpty && readyBefore.size > 0 && readyAfter.size === 0) fail("neverEmpty", `${service} ${what}: ${readyBefore.size} ready before, none after`);
        if (minHealthy !== undefined && readyAfter.size < Math.min(minHealthy, readyBefore.size)) {
          fail("minHealthy", `${service} ${what}: ${readyAfter.size} ready after, ${readyBefore.size} before, minHealthy ${minHealthy}`);
        }
      }
      if (wasConfigured.has(service)) {
        if (before.slicesOf(service).length > 0 && slices.length === 0) fail("kept", `${service}: its slices are gone while it is configured`);
        const hadEndpoints = before.endpoints.some((item) => item.metadata?.name === service && isOurs(item.metadata));
        if (hadEndpoints && !ourEndpoints) fail("kept", `${service}: its Endpoints are gone while it is configured`);
      }
    } else if (report && report.pruned.length > 0 && report.pruned.every((pruned) => pruned.error === undefined)) {
      const left = [...slices.map((slice) => `EndpointSlice ${slice.metadata?.name}`), ...(ourEndpoints ? ["Endpoints"] : []), ...(memory ? ["ConfigMap"] : [])];
      if (left.length > 0) fail("pruned", `${service} left the config and pruning succeeded, but ${left.join(", ")} remain`);
    }

    // Duplicates: per address family and port set.
    const groups = new Map<string, V1EndpointSlice[]>();
    for (const slice of slices) {
      const ports = (slice.ports ?? []).map((port) => `${port.name}:${port.port}/${port.protocol}`).sort().join(",");
      const key = `${slice.addressType} ${ports}`;
      groups.set(key, [...(groups.get(key) ?? []), slice]);
    }
    for (const [group, members] of groups) {
      const addresses = members.flatMap((slice) => (slice.endpoints ?? []).map((endpoint) => endpoint.addresses[0]!));
      const twice = addresses.filter((address, index) => addresses.indexOf(address) !== index);
      // A write cut short may leave an endpoint that moved between slices in both; the next whole run removes one.
      const cutShort = !report || report.targets.some((item) => item.target === service && item.status === "failed");
      if (twice.length > 0 && !cutShort) fail("duplicates", `${service} ${group}: ${twice.join(", ")} in more than one endpoint of our slices ${members.map((slice) => slice.metadata?.name).join(", ")}`);
      // One slice more, for a run: endpoints that swap port sets go to a new slice, packed again the next run.
      if (members.length > Math.max(1, Math.ceil(addresses.length / 1000)) + 1) fail("duplicates", `${service} ${group}: ${members.length} slices for ${addresses.length} endpoints`);
      for (const slice of members) if ((slice.endpoints ?? []).length === 0) fail("duplicates", `${service}: slice ${slice.metadata?.name} is empty`);
    }
    const mirrored = after.slices.filter(
      (slice) => slice.metadata?.labels?.["kubernetes.io/service-name"] === service && slice.metadata.labels["endpointslice.kubernetes.io/managed-by"] === "endpointslicemirroring-controller.k8s.io",
    );
    if (mirrored.length > 0) fail("duplicates", `${service}: mirrored slices ${mirrored.map((slice) => slice.metadata?.name).join(", ")} beside ours`);

    const strangers = [...after.publishedOf(service).keys()].filter((address) => !target.universe.includes(address));
    if (strangers.length > 0) fail("addresses", `${service}: ${strangers.join(", ")} published, which no source of it gives`);

    const uid = after.serviceUids.get(service);
    const problems = [
      ...slices.flatMap((slice) => labelProblems("EndpointSlice", slice.metadata, service, uid)),
      ...(ourEndpoints ? labelProblems("Endpoints", ourEndpoints.metadata, service, uid) : []),
      ...(memory ? labelProblems("ConfigMap", memory.metadata, service, uid) : []),
    ];
    for (const problem of problems) fail("labels", problem);
  }
  // Nothing of ours for a Service we do not know.
  for (const object of [...after.slices, ...after.endpoints, ...after.configMaps]) {
    if (!isOurs(object.metadata)) continue;
    const service = object.metadata?.labels?.["kubernetes.io/service-name"] ?? object.metadata?.labels?.["external-endpoint-syncer/service"] ?? object.metadata?.name ?? "";
    if (!targets.has(service)) fail("labels", `${object.metadata?.name}: ours, for an unknown Service ${JSON.stringify(service)}`);
  }
  return violations;
}

/** Our slices hold exactly `expected` (address, readiness and port), and our Endpoints say the same. */
export function publishedMatches(state: ClusterState, service: string, expected: Map<string, Published>): boolean {
  const endpoints = state.endpoints.find((item) => item.metadata?.name === service && isOurs(item.metadata));
  const listed = new Map(
    (endpoints?.subsets ?? []).flatMap((subset) =>
      [...(subset.addresses ?? []).map((address) => [address, true] as const), ...(subset.notReadyAddresses ?? []).map((address) => [address, false] as const)].map(
        ([address, ready]): [string, Published] => [address.ip, { address: address.ip, ready, port: subset.ports?.[0]?.port ?? 0 }],
      ),
    ),
  );
  const same = (published: Map<string, Published>) =>
    published.size === expected.size &&
    [...expected.values()].every((wanted) => published.get(wanted.address)?.ready === wanted.ready && published.get(wanted.address)?.port === wanted.port);
  return same(state.publishedOf(service)) && same(listed);
}

