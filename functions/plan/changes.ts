import { compareAddresses } from "../decide/addresses.ts";
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


/** A stable text for plain API data, ignoring key order and undefined fields: a key to group by. */
export function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) =>
    item && typeof item === "object" && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).filter(([, v]) => v !== undefined).sort(([a], [b]) => compareAddresses(a, b)))
      : item,
  );
}

/**
 * Deep equality of plain API data, ignoring key order and undefined fields, as `canonical` texts would compare,
 * without making them: at 10,000 endpoints the texts cost more than everything else the planner does.
 */
export function sameData(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((item, index) => sameData(item, b[index]));
  }
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  let fields = 0;
  for (const key in left) {
    if (left[key] === undefined) continue;
    if (!sameData(left[key], right[key])) return false;
    fields++;
  }
  for (const key in right) if (right[key] !== undefined) fields--;
  return fields === 0;
}
