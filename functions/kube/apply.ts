import type { V1EndpointSlice, V1ObjectMeta } from "@kubernetes/client-node";
import pLimit from "p-limit";
import { errorMessage } from "../errors.ts";
import type { Change, KubeObject } from "../plan/changes.ts";
import { isOurs, MANAGER, type Writer } from "../registry/labels.ts";
import type { KubeClients } from "./client.ts";
import { KubeApiError, readOptional, statusOf } from "./errors.ts";

const FIELD_MANAGER = MANAGER;
/** How often a write that lost a race (409) is re-read and tried again. */
export const MAX_CONFLICT_RETRIES = 3;
/** Writes in flight at once for one target: ten 1,000-endpoint slices land in a fraction of the time. */
const WRITE_CONCURRENCY = 4;

export interface ApplyResult {
  writes: number;
  conflictsRetried: number;
}

/** Some of the writes failed: the first failure's message, and what was written before the rest stopped. */
export class ApplyError extends Error {
  readonly applied: ApplyResult;
  constructor(applied: ApplyResult, cause: unknown) {
    super(errorMessage(cause), { cause });
    this.name = "ApplyError";
    this.applied = applied;
  }
}

/** Raised when a write would touch an object that is not ours: it is never changed. */
export class NotOursError extends Error {
  constructor(object: string) {
    super(`${object} exists and is not managed by ${MANAGER}: left alone (set adopt: true to take it over)`);
    this.name = "NotOursError";
  }
}

interface KindApi {
  read(namespace: string, name: string): Promise<KubeObject>;
  create(namespace: string, body: KubeObject): Promise<unknown>;
  replace(namespace: string, name: string, body: KubeObject): Promise<unknown>;
  remove(namespace: string, name: string, preconditions: { uid?: string; resourceVersion?: string }): Promise<unknown>;
}

function kindApi(clients: KubeClients, kind: KubeObject["kind"]): KindApi {
  const { core, discovery } = clients;
  const fieldManager = FIELD_MANAGER;
  switch (kind) {
    case "EndpointSlice":
      return {
        read: async (namespace, name) => ({ ...(await discovery.readNamespacedEndpointSlice({ namespace, name })), kind }),
        create: (namespace, body) => discovery.createNamespacedEndpointSlice({ namespace, body: body as V1EndpointSlice, fieldManager }),
        replace: (namespace, name, body) => discovery.replaceNamespacedEndpointSlice({ namespace, name, body: body as V1EndpointSlice, fieldManager }),
        remove: (namespace, name, preconditions) => discovery.deleteNamespacedEndpointSlice({ namespace, name, body: { preconditions } }),
      };
    case "Endpoints":
      return {
        read: async (namespace, name) => ({ ...(await core.readNamespacedEndpoints({ namespace, name })), kind }),
        create: (namespace, body) => core.createNamespacedEndpoints({ namespace, body, fieldManager }),
        replace: (namespace, name, body) => core.replaceNamespacedEndpoints({ namespace, name, body, fieldManager }),
        remove: (namespace, name, preconditions) => core.deleteNamespacedEndpoints({ namespace, name, body: { preconditions } }),
      };
    case "ConfigMap":
      return {
        read: async (namespace, name) => ({ ...(await core.readNamespacedConfigMap({ namespace, name })), kind }),
        create: (namespace, body) => core.createNamespacedConfigMap({ namespace, body, fieldManager }),
        replace: (namespace, name, body) => core.replaceNamespacedConfigMap({ namespace, name, body, fieldManager }),
        remove: (namespace, name, preconditions) => core.deleteNamespacedConfigMap({ namespace, name, body: { preconditions } }),
      };
    case "Service":
      return {
        read: async (namespace, name) => ({ ...(await core.readNamespacedService({ namespace, name })), kind }),
        create: (namespace, body) => core.createNamespacedService({ namespace, body, fieldManager }),
        replace: (namespace, name, body) => core.replaceNamespacedService({ namespace, name, body, fieldManager }),
        remove: (namespace, name, preconditions) => core.deleteNamespacedService({ namespace, name, body: { preconditions } }),
      };
  }
}

/**
 * The only place that writes our objects (Events go through events.ts), in the order of `writeOrder`, a few
 * writes at a time within each phase. A 409 is re-read and retried; an object that turns out not to be ours is
 * never touched. A failure stops what has not started and throws an ApplyError that counts what was written.
 */
export async function applyChanges(clients: KubeClients, changes: Change[], writer: Writer): Promise<ApplyResult> {
  const result: ApplyResult = { writes: 0, conflictsRetried: 0 };
  const limit = pLimit(WRITE_CONCURRENCY);
  let failure: { error: unknown } | undefined;
  for (const phase of writeOrder(changes)) {
    await Promise.all(
      phase.map((change) =>
        limit(async () => {
          if (failure) return;
          try {
            await applyOne(clients, change, writer, result);
          } catch (error) {
            failure ??= { error };
          }
        }),
      ),
    );
    if (failure) throw new ApplyError(result, failure.error);
  }
  return result;
}

/**
 * Pure: the phases of a write, so readers never see fewer endpoints than either side of the change, whichever
 * write fails: first what takes no endpoint out and turns none not ready, then the other creates and updates,
 * then those that take out an endpoint another object of their kind adds or turns ready (an endpoint moving to
 * the slice of another port set is ready in its new slice before it leaves the old one), then deletes. The
 * planner never has a slice that gives an endpoint away take one from another, so no phase waits on itself.
 */
export function writeOrder(changes: Change[]): Change[][] {
  const broughtIn = new Set(
    changes.flatMap((change) =>
      change.endpoints.filter((endpoint) => endpoint.change === "added" || endpoint.change === "ready").map((endpoint) => `${change.object.kind} ${endpoint.address}`),
    ),
  );
  const removes = (change: Change) => change.endpoints.some((endpoint) => endpoint.change === "removed" || endpoint.change === "notReady");
  const givesAway = (change: Change) =>
    change.endpoints.some((endpoint) => endpoint.change === "removed" && broughtIn.has(`${change.object.kind} ${endpoint.address}`));
  const writes = changes.filter((change) => change.action !== "delete");
  return [
    writes.filter((change) => !removes(change)),
    writes.filter((change) => removes(change) && !givesAway(change)),
    writes.filter(givesAway),
    changes.filter((change) => change.action === "delete"),
  ].filter((phase) => phase.length > 0);
}

async function applyOne(clients: KubeClients, change: Change, writer: Writer, result: ApplyResult): Promise<void> {
  const api = kindApi(clients, change.object.kind);
  const namespace = change.object.metadata?.namespace ?? "";
  const name = change.object.metadata?.name ?? "";
  const what = `${change.object.kind} ${namespace}/${name}`;
  let action = change.action;
  let body = change.object;
  let metadata: V1ObjectMeta | undefined = change.object.metadata;

  for (let attempt = 0; ; attempt++) {
    try {
      if (action === "create") await api.create(namespace, body);
      else if (action === "update") await api.replace(namespace, name, body);
      else await api.remove(namespace, name, { uid: metadata?.uid, resourceVersion: metadata?.resourceVersion });
      result.writes++;
      return;
    } catch (error) {
      const status = statusOf(error);
      if (action === "delete" && status === 404) return;
      if (status !== 409 || attempt >= MAX_CONFLICT_RETRIES) throw new KubeApiError(`${action} ${what}`, error);
    }
    // Lost a race: read what is there now and decide again.
    result.conflictsRetried++;
    const current = await readOptional(`get ${what}`, () => api.read(namespace, name));
    if (!current) {
      if (action === "delete") return;
      action = "create";
      body = { ...change.object, metadata: { ...change.object.metadata, resourceVersion: undefined, uid: undefined } } as KubeObject;
      continue;
    }
    // A Service someone else just created is theirs: the caller reads it back and checks whether we may use it.
    if (change.object.kind === "Service") return;
    if (!isOurs(current.metadata, writer) && current.metadata?.uid !== change.object.metadata?.uid) throw new NotOursError(what);
    metadata = current.metadata;
    if (action !== "delete") {
      action = "update";
      body = rebase(change.object, current);
    }
  }
}

/** Our planned content on top of the object as it is now, so the other writer's fields survive. */
function rebase(planned: KubeObject, current: KubeObject): KubeObject {
  const { metadata, apiVersion: _apiVersion, kind: _kind, ...content } = planned;
  return {
    ...current,
    ...content,
    metadata: {
      ...current.metadata,
      managedFields: undefined,
      labels: { ...current.metadata?.labels, ...metadata?.labels },
      // Ours (the status stamp) on top of theirs, as with labels: the retry must still write it.
      annotations: metadata?.annotations ? { ...current.metadata?.annotations, ...metadata.annotations } : current.metadata?.annotations,
      ownerReferences: metadata?.ownerReferences,
    },
  } as KubeObject;
}
