import type { V1ConfigMap, V1EndpointSlice, V1Endpoints, V1Service } from "@kubernetes/client-node";

export type KubeObject =
  | ({ kind: "EndpointSlice" } & V1EndpointSlice)
  | ({ kind: "Endpoints" } & V1Endpoints)
  | ({ kind: "Service" } & V1Service)
  | ({ kind: "ConfigMap" } & V1ConfigMap);

/** One endpoint's change, for dry-run and reports. */
export interface EndpointChange {
  address: string;
  change: "added" | "removed" | "ready" | "notReady" | "updated";
}

export type Change =
  | { action: "create"; object: KubeObject; endpoints: EndpointChange[] }
  /** `object` carries the resourceVersion it was planned against. */
  | { action: "update"; object: KubeObject; endpoints: EndpointChange[] }
  | { action: "delete"; object: KubeObject; endpoints: EndpointChange[] };

export type Readiness = Map<string, { ready: boolean; fields: string }>;

/** Endpoint by endpoint, what turns `before` into `after`. */
export function diffEndpoints(before: Readiness, after: Readiness): EndpointChange[] {
  const changes: EndpointChange[] = [];
  for (const [address, now] of after) {
    const was = before.get(address);
    if (!was) changes.push({ address, change: "added" });
    else if (was.ready !== now.ready) changes.push({ address, change: now.ready ? "ready" : "notReady" });
    else if (was.fields !== now.fields) changes.push({ address, change: "updated" });
  }
  for (const address of before.keys()) if (!after.has(address)) changes.push({ address, change: "removed" });
  return changes.sort((a, b) => compareAddresses(a.address, b.address));
}

export const compareAddresses = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A stable text for deep comparison of plain API data, ignoring key order and undefined fields. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item && typeof item === "object" && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).filter(([, v]) => v !== undefined).sort(([a], [b]) => compareAddresses(a, b)))
      : item,
  );
}
