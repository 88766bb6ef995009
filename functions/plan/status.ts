import type { V1EndpointSlice } from "@kubernetes/client-node";
import type { Change } from "./changes.ts";

export const LAST_SYNC = "external-endpoint-syncer/last-sync";
export const ENDPOINT_COUNTS = "external-endpoint-syncer/endpoints";
/** A heartbeat this often at most, so an idle one-minute schedule still writes nothing most runs. */
export const STATUS_REFRESH_MS = 10 * 60_000;

export interface SyncStatus {
  now: Date;
  ready: number;
  notReady: number;
}

/**
 * Pure: stamps "is the syncer alive?" on the first of our EndpointSlices, where `kubectl describe` shows it:
 * on any slice write anyway, and on its own only when the counts change or the last stamp is older than
 * STATUS_REFRESH_MS.
 */
export function planStatus(changes: Change[], existingSlices: V1EndpointSlice[], status: SyncStatus): Change[] {
  const nameOf = (slice: { metadata?: { name?: string } }) => slice.metadata?.name ?? "";
  const written = new Map(changes.filter((change) => change.object.kind === "EndpointSlice").map((change) => [nameOf(change.object), change]));
  const survivors = [
    ...[...written.values()].filter((change) => change.action !== "delete").map((change) => nameOf(change.object)),
    ...existingSlices.map(nameOf).filter((name) => !written.has(name)),
  ].sort();
  const target = survivors[0];
  if (target === undefined) return changes;

  const counts = `${status.ready} ready, ${status.notReady} not ready`;
  const stamp = { [LAST_SYNC]: status.now.toISOString(), [ENDPOINT_COUNTS]: counts };
  const planned = written.get(target);
  if (planned) {
    const object = { ...planned.object, metadata: { ...planned.object.metadata, annotations: { ...planned.object.metadata?.annotations, ...stamp } } };
    return changes.map((change) => (change === planned ? ({ ...change, object } as Change) : change));
  }
  const slice = existingSlices.find((item) => nameOf(item) === target)!;
  const annotations = slice.metadata?.annotations ?? {};
  const lastSync = Date.parse(annotations[LAST_SYNC] ?? "");
  const due = annotations[ENDPOINT_COUNTS] !== counts || !(status.now.getTime() - lastSync < STATUS_REFRESH_MS);
  if (!due) return changes;
  const object = { ...slice, kind: "EndpointSlice" as const, metadata: { ...slice.metadata, managedFields: undefined, annotations: { ...annotations, ...stamp } } };
  return [...changes, { action: "update", object, endpoints: [] }];
}
