// A made-up Kubernetes API server in memory, for unit tests that run the engine without root, network
// namespaces or a built kube-apiserver. It answers exactly the methods functions/kube/api-methods.ts lists,
// with client-node's request and response shapes, and records every call so a test can assert "exactly one
// create of endpointslices". test/integration/fake-kube.test.ts makes the same calls to a real kube-apiserver
// and to this fake and requires the same answers; the other integration tests run the engine on the real one.
import { isDeepStrictEqual } from "node:util";
import { ApiException } from "@kubernetes/client-node/dist/gen/apis/exception.js";
import { ObjectSerializer } from "@kubernetes/client-node/dist/gen/models/ObjectSerializer.js";
import type { V1ObjectMeta } from "@kubernetes/client-node";
import { ClusterConnections, type KubeClients } from "../../functions/kube/client.ts";
import type { CoreV1Api, DiscoveryV1Api } from "../../functions/kube/client-node.ts";

export type Resource = "services" | "endpoints" | "configmaps" | "events" | "endpointslices";
export type Verb = "get" | "list" | "create" | "update" | "delete";
export type WriteVerb = Exclude<Verb, "get" | "list">;

/** One call the code under test made; `namespace` is absent for a list across all namespaces. */
export interface Action {
  verb: Verb;
  resource: Resource;
  namespace?: string;
  name?: string;
}

/** Metadata as JSON has it: timestamps as text. */
type JsonMeta = Omit<V1ObjectMeta, "creationTimestamp" | "deletionTimestamp"> & { creationTimestamp?: string; deletionTimestamp?: string };

/** An object as the API server stores it: JSON, with its kind and metadata. */
export type StoredObject = { apiVersion: string; kind: string; metadata?: JsonMeta } & Record<string, unknown>;

/** An object as a test or the code under test hands it over: one of client-node's models, or plain JSON. */
export type KubeInput = { kind?: string; metadata?: V1ObjectMeta } | ({ kind?: string; metadata?: JsonMeta } & Record<string, unknown>);

// The type names are client-node's, for its ObjectSerializer.
const RESOURCES: Record<Resource, { kind: string; apiVersion: string; type: string }> = {
  services: { kind: "Service", apiVersion: "v1", type: "V1Service" },
  endpoints: { kind: "Endpoints", apiVersion: "v1", type: "V1Endpoints" },
  configmaps: { kind: "ConfigMap", apiVersion: "v1", type: "V1ConfigMap" },
  events: { kind: "Event", apiVersion: "v1", type: "CoreV1Event" },
  endpointslices: { kind: "EndpointSlice", apiVersion: "discovery.k8s.io/v1", type: "V1EndpointSlice" },
};

export function resourceOf(kind: string | undefined): Resource {
  const found = Object.entries(RESOURCES).find(([, known]) => known.kind === kind);
  if (!found) throw new Error(`the fake API server does not serve kind ${kind}`);
  return found[0] as Resource;
}

/** What a fault does to the next matching write: answer with an error, or first run `before` (a racing writer). */
interface Fault {
  verb: WriteVerb;
  resource: Resource;
  times: number;
  code?: number;
  before?: (fake: FakeKube) => void;
}

/**
 * Keeps objects by resource, namespace and name; gives each a uid and creationTimestamp on create and a new
 * resourceVersion on every write that changes it (an update that changes nothing keeps it, as the real one
 * does). Like the real one it answers 404 for a missing object, 409 for a create of an existing name, an
 * update planned against a stale resourceVersion or another uid, and a delete whose preconditions do not
 * hold, each as client-node's ApiException with the real Status body and message; an update of a missing
 * Endpoints creates it. It stores JSON (fields set to undefined vanish) and omits what core/v1 marks
 * omitempty on Endpoints (an empty port name, an empty subsets list); lists come in name order, their items
 * without kind. Label selectors `a=b`, `a==b`, `a!=b`, `a` and `!a` work on every list; field selectors
 * only on metadata and Events' involvedObject. It knows nothing else of Kubernetes: no RBAC, no validation,
 * no defaulting, no garbage collection, no controllers.
 */
export class FakeKube {
  /** Every call made through clients(), and every write made through create/replace/delete, in order. */
  readonly actions: Action[] = [];
  readonly #objects = new Map<string, StoredObject>();
  #faults: Fault[] = [];
  #resourceVersion = 100;
  #uids = 0;

  /** The writes recorded since `from` (an index into actions), as `verb resource namespace/name`. */
  writes(from = 0): string[] {
    return this.actions.slice(from).filter((action) => action.verb !== "get" && action.verb !== "list").map(describeAction);
  }

  /** How many `verb`s of `resource` were recorded since `from` (an index into actions). */
  count(verb: Verb, resource: Resource, from = 0): number {
    return this.actions.slice(from).filter((action) => action.verb === verb && action.resource === resource).length;
  }

  /** The next `times` writes of this verb and resource answer `code` (409 or 500, say) and change nothing. */
  failNext(verb: WriteVerb, resource: Resource, code: number, times = 1): void {
    this.#faults.push({ verb, resource, times, code });
  }

  /** Before the next write of this verb and resource, runs `before`: another writer winning a race. */
  beforeNext(verb: WriteVerb, resource: Resource, before: (fake: FakeKube) => void): void {
    this.#faults.push({ verb, resource, times: 1, before });
  }

  // --- The scene, as other writers set it: not recorded. ---

  /** Puts `object` in place as someone else would have, replacing any by its name; returns what is stored. */
  seed(object: KubeInput): StoredObject {
    return this.#insert(resourceOf(object.kind), object.metadata?.namespace ?? "", object.metadata?.name ?? "", object);
  }

  /** Changes a stored object as another writer would (a new resourceVersion); returns what is stored. */
  edit(resource: Resource, namespace: string, name: string, change: (object: StoredObject) => void): StoredObject {
    const current = this.#objects.get(keyOf(resource, namespace, name));
    if (!current) throw new Error(`edit ${resource} ${namespace}/${name}: not found`);
    const edited = structuredClone(current);
    change(edited);
    const stored = this.#stored(resource, edited);
    stored.metadata = { ...stored.metadata, resourceVersion: this.#nextVersion() };
    this.#objects.set(keyOf(resource, namespace, name), stored);
    return structuredClone(stored);
  }

  /** Deletes an object as another writer would. */
  remove(resource: Resource, namespace: string, name: string): void {
    this.#objects.delete(keyOf(resource, namespace, name));
  }

  /** A copy of what is stored, or undefined. */
  object(resource: Resource, namespace: string, name: string): StoredObject | undefined {
    const found = this.#objects.get(keyOf(resource, namespace, name));
    return found && structuredClone(found);
  }

  /** Copies of what is stored, in name order; `namespace` undefined for all namespaces. */
  objects(resource: Resource, { namespace, labelSelector }: { namespace?: string; labelSelector?: string } = {}): StoredObject[] {
    const matches = labelMatcher(labelSelector);
    return [...this.#objects.entries()]
      .filter(([key, object]) => key.startsWith(`${resource}/${namespace === undefined ? "" : `${namespace}/`}`) && matches(object.metadata?.labels ?? {}))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, object]) => structuredClone(object));
  }

  // --- Writes of the code under test: recorded, and subject to failNext and beforeNext. ---

  create(resource: Resource, namespace: string, body: KubeInput): StoredObject {
    const generated = body.metadata?.generateName && !body.metadata.name ? `${body.metadata.generateName}${(++this.#uids).toString(36).padStart(5, "0")}` : undefined;
    const name = generated ?? body.metadata?.name ?? "";
    this.#request("create", resource, namespace, name);
    if (!name) throw apiError(422, "Invalid", `${RESOURCES[resource].kind} "" is invalid: metadata.name: Required value: name or generateName is required`);
    if (body.metadata?.namespace !== undefined && body.metadata.namespace !== namespace) {
      throw apiError(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request");
    }
    if (this.#objects.has(keyOf(resource, namespace, name))) throw apiError(409, "AlreadyExists", `${qualified(resource)} "${name}" already exists`, { name, kind: resource });
    // etcd3's storage refuses it with a plain error, which the API server answers as 500 with no reason.
    if (body.metadata?.resourceVersion) throw apiError(500, undefined, "resourceVersion should not be set on objects to be created");
    return this.#insert(resource, namespace, name, body);
  }

  replace(resource: Resource, namespace: string, name: string, body: KubeInput): StoredObject {
    this.#request("update", resource, namespace, name);
    if (body.metadata?.name !== name) throw apiError(400, "BadRequest", `the name of the object (${body.metadata?.name}) does not match the name on the URL (${name})`);
    const key = keyOf(resource, namespace, name);
    const current = this.#objects.get(key);
    if (!current) {
      // Of these resources only Endpoints is created by an update (AllowCreateOnUpdate in its registry).
      if (resource !== "endpoints") throw notFound(resource, name);
      return this.#insert(resource, namespace, name, body);
    }
    const sent = body.metadata;
    if (sent.uid && sent.uid !== current.metadata?.uid) {
      throw apiError(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${qualified(resource)} "${name}": StorageError: invalid object, Code: 4, Key: ${storageKey(resource, namespace, name)}, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: ${sent.uid}, UID in object meta: ${current.metadata?.uid}`,
        { name, kind: resource },
      );
    }
    if (sent.resourceVersion && sent.resourceVersion !== current.metadata?.resourceVersion) throw modified(resource, name);
    const stored = this.#stored(resource, body);
    stored.metadata = { ...stored.metadata, namespace, uid: current.metadata?.uid, creationTimestamp: current.metadata?.creationTimestamp, resourceVersion: current.metadata?.resourceVersion };
    // An update that changes nothing is not written: the resourceVersion stays.
    if (isDeepStrictEqual(stored, current)) return structuredClone(current);
    stored.metadata.resourceVersion = this.#nextVersion();
    this.#objects.set(key, stored);
    return structuredClone(stored);
  }

  delete(resource: Resource, namespace: string, name: string, preconditions: { uid?: string; resourceVersion?: string } = {}): StoredObject {
    this.#request("delete", resource, namespace, name);
    const key = keyOf(resource, namespace, name);
    const current = this.#objects.get(key);
    if (!current) throw notFound(resource, name);
    const { kind, apiVersion } = RESOURCES[resource];
    const group = apiVersion.includes("/") ? `.${apiVersion.split("/")[0]}` : "";
    const failed = (field: string, wanted: string, found: string | undefined, why: string) =>
      apiError(409, "Conflict", `Operation cannot be fulfilled on ${kind}${group} "${name}": the ${field} in the precondition (${wanted}) does not match the ${field} in record (${found}). ${why}`, { name, kind: resource });
    if (preconditions.uid && preconditions.uid !== current.metadata?.uid) throw failed("UID", preconditions.uid, current.metadata?.uid, "The object might have been deleted and then recreated");
    if (preconditions.resourceVersion && preconditions.resourceVersion !== current.metadata?.resourceVersion) {
      throw failed("ResourceVersion", preconditions.resourceVersion, current.metadata?.resourceVersion, "The object might have been modified");
    }
    this.#objects.delete(key);
    return current;
  }

  // --- The client side. ---

  /** KubeClients for the engine: client-node's CoreV1Api and DiscoveryV1Api, narrowed as functions/ narrows them. */
  clients(cluster = "fake"): KubeClients {
    const read = (resource: Resource) => async ({ namespace, name }: { namespace: string; name: string }) => {
      this.#request("get", resource, namespace, name);
      const found = this.#objects.get(keyOf(resource, namespace, name));
      if (!found) throw notFound(resource, name);
      return received(resource, found);
    };
    const create = (resource: Resource) => async ({ namespace, body }: { namespace: string; body: object }) =>
      received(resource, this.create(resource, namespace, sent(resource, body)));
    const replace = (resource: Resource) => async ({ namespace, name, body }: { namespace: string; name: string; body: object }) =>
      received(resource, this.replace(resource, namespace, name, sent(resource, body)));
    const remove = (resource: Resource) => async ({ namespace, name, body }: { namespace: string; name: string; body?: { preconditions?: { uid?: string; resourceVersion?: string } } }) => {
      const deleted = this.delete(resource, namespace, name, body?.preconditions);
      return ObjectSerializer.deserialize({ kind: "Status", apiVersion: "v1", status: "Success", details: { name, kind: resource, uid: deleted.metadata?.uid } }, "V1Status", "");
    };
    const list = (resource: Resource) => async ({ namespace, labelSelector, fieldSelector }: { namespace?: string; labelSelector?: string; fieldSelector?: string }) => {
      this.#request("list", resource, namespace, undefined);
      const matchesFields = fieldMatcher(resource, fieldSelector);
      // A list's items carry no kind or apiVersion: the list's own kind says what they are.
      const items = this.objects(resource, { namespace, labelSelector })
        .filter(matchesFields)
        .map(({ kind: _kind, apiVersion: _apiVersion, ...item }) => item);
      const { kind, apiVersion, type } = RESOURCES[resource];
      return ObjectSerializer.deserialize({ kind: `${kind}List`, apiVersion, metadata: { resourceVersion: String(this.#resourceVersion) }, items }, `${type}List`, "");
    };
    const core: CoreV1Api = {
      readNamespacedService: read("services"),
      createNamespacedService: create("services"),
      replaceNamespacedService: replace("services"),
      // The one delete here that answers with the object rather than a Status.
      deleteNamespacedService: async ({ namespace, name, body }) => received("services", this.delete("services", namespace, name, body?.preconditions)),
      readNamespacedEndpoints: read("endpoints"),
      createNamespacedEndpoints: create("endpoints"),
      replaceNamespacedEndpoints: replace("endpoints"),
      deleteNamespacedEndpoints: remove("endpoints"),
      listEndpointsForAllNamespaces: list("endpoints"),
      readNamespacedConfigMap: read("configmaps"),
      createNamespacedConfigMap: create("configmaps"),
      replaceNamespacedConfigMap: replace("configmaps"),
      deleteNamespacedConfigMap: remove("configmaps"),
      listNamespacedConfigMap: list("configmaps"),
      createNamespacedEvent: create("events"),
      listNamespacedEvent: list("events"),
    };
    const discovery: DiscoveryV1Api = {
      readNamespacedEndpointSlice: read("endpointslices"),
      createNamespacedEndpointSlice: create("endpointslices"),
      replaceNamespacedEndpointSlice: replace("endpointslices"),
      deleteNamespacedEndpointSlice: remove("endpointslices"),
      listNamespacedEndpointSlice: list("endpointslices"),
      listEndpointSliceForAllNamespaces: list("endpointslices"),
    };
    return { cluster, core, discovery };
  }

  /** For runSync: every cluster entry of the config reaches this one fake. */
  connections(): ClusterConnections {
    return new FakeConnections(this);
  }

  #insert(resource: Resource, namespace: string, name: string, body: KubeInput): StoredObject {
    const stored = this.#stored(resource, body);
    stored.metadata = { ...stored.metadata, name, namespace, uid: this.#uid(), resourceVersion: this.#nextVersion(), creationTimestamp: new Date().toISOString() };
    this.#objects.set(keyOf(resource, namespace, name), stored);
    return structuredClone(stored);
  }

  #request(verb: Verb, resource: Resource, namespace: string | undefined, name: string | undefined): void {
    this.actions.push({ verb, resource, ...(namespace !== undefined && { namespace }), ...(name !== undefined && { name }) });
    if (verb === "get" || verb === "list") return;
    const fault = this.#faults.find((candidate) => candidate.verb === verb && candidate.resource === resource);
    if (!fault) return;
    if (--fault.times === 0) this.#faults = this.#faults.filter((candidate) => candidate !== fault);
    fault.before?.(this);
    if (fault.code === 409) throw modified(resource, name ?? "");
    if (fault.code !== undefined) throw apiError(fault.code, "InternalError", `an error injected by the test on ${verb} ${resource} ${namespace}/${name}`);
  }

  /** What the API server keeps of `object`: its JSON, with kind and apiVersion, without what core/v1 omits when empty. */
  #stored(resource: Resource, object: object): StoredObject {
    const { kind, apiVersion } = RESOURCES[resource];
    const stored = JSON.parse(JSON.stringify({ ...object, kind, apiVersion })) as StoredObject;
    if (resource === "endpoints") {
      const subsets = stored.subsets as { ports?: { name?: string }[] }[] | undefined;
      for (const subset of subsets ?? []) for (const port of subset.ports ?? []) if (port.name === "") delete port.name;
      if (subsets?.length === 0) delete stored.subsets;
    }
    return stored;
  }

  #uid(): string {
    return `00000000-0000-4000-8000-${String(++this.#uids).padStart(12, "0")}`;
  }

  #nextVersion(): string {
    return String(++this.#resourceVersion);
  }
}

class FakeConnections extends ClusterConnections {
  readonly #fake: FakeKube;
  constructor(fake: FakeKube) {
    super([]);
    this.#fake = fake;
  }

  override async get(name: string): Promise<KubeClients> {
    return this.#fake.clients(name);
  }
}

const keyOf = (resource: Resource, namespace: string | undefined, name: string | undefined) => `${resource}/${namespace ?? ""}/${name ?? ""}`;

const describeAction = (action: Action) => `${action.verb} ${action.resource} ${action.namespace ?? "*"}/${action.name ?? "*"}`;

/** The request body as client-node sends it: its serializer's JSON. */
const sent = (resource: Resource, body: object): KubeInput => JSON.parse(JSON.stringify(ObjectSerializer.serialize(body, RESOURCES[resource].type, ""))) as KubeInput;

/** The response as client-node hands it back: an instance of its model class, dates as Date (typed by the method it answers). */
const received = (resource: Resource, stored: StoredObject): any => ObjectSerializer.deserialize(structuredClone(stored), RESOURCES[resource].type, "");

/** As client-node throws for an answer outside 2xx: the code, and the Status body as text. */
function apiError(code: number, reason: string | undefined, message: string, details?: { name?: string; kind?: string }): ApiException<string> {
  const status = { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, ...(reason && { reason }), ...(details && { details }), code };
  return new ApiException(code, "Unknown API Status Code!", JSON.stringify(status), { "content-type": "application/json" });
}

/** How the API server names a resource in its messages: `endpointslices.discovery.k8s.io`, `configmaps`. */
function qualified(resource: Resource): string {
  const { apiVersion } = RESOURCES[resource];
  return apiVersion.includes("/") ? `${resource}.${apiVersion.split("/")[0]}` : resource;
}

/** Where etcd keeps it: in some of its messages. */
function storageKey(resource: Resource, namespace: string, name: string): string {
  const prefix = { services: "services/specs", endpoints: "services/endpoints" }[resource as string] ?? resource;
  return `/registry/${prefix}/${namespace}/${name}`;
}

const notFound = (resource: Resource, name: string) => apiError(404, "NotFound", `${qualified(resource)} "${name}" not found`, { name, kind: resource });

/** A write that lost the race: what a stale resourceVersion gets. */
const modified = (resource: Resource, name: string) =>
  apiError(409, "Conflict", `Operation cannot be fulfilled on ${qualified(resource)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, kind: resource });

/** `a=b,c!=d,e,!f`; set-based selectors (in, notin) are answered 400 rather than misread. */
function labelMatcher(selector: string | undefined): (labels: Record<string, string>) => boolean {
  const terms = (selector ?? "")
    .split(",")
    .map((term) => term.trim())
    .filter(Boolean)
    .map((term) => {
      const match = /^(!?)([A-Za-z0-9._/-]+)(?:\s*(==|=|!=)\s*([A-Za-z0-9._-]*))?$/.exec(term);
      if (!match) throw apiError(400, "BadRequest", `unable to parse requirement: ${JSON.stringify(term)} (the fake API server takes only =, == and !=)`);
      const [, not, key, operator, value] = match as unknown as [string, string, string, string | undefined, string | undefined];
      if (operator === undefined) return (labels: Record<string, string>) => (key in labels) !== (not === "!");
      if (not) throw apiError(400, "BadRequest", `unable to parse requirement: ${JSON.stringify(term)}`);
      return operator === "!=" ? (labels: Record<string, string>) => labels[key] !== value : (labels: Record<string, string>) => labels[key] === value;
    });
  return (labels) => terms.every((term) => term(labels));
}

/** Field selectors as the tests use them: Events by involvedObject, anything by metadata.name/namespace. */
function fieldMatcher(resource: Resource, selector: string | undefined): (object: StoredObject) => boolean {
  const fields: Record<string, (object: StoredObject) => unknown> = {
    "metadata.name": (object) => object.metadata?.name,
    "metadata.namespace": (object) => object.metadata?.namespace,
    ...(resource === "events" && {
      "involvedObject.kind": (object) => (object.involvedObject as { kind?: string } | undefined)?.kind,
      "involvedObject.name": (object) => (object.involvedObject as { name?: string } | undefined)?.name,
      "involvedObject.namespace": (object) => (object.involvedObject as { namespace?: string } | undefined)?.namespace,
      "involvedObject.uid": (object) => (object.involvedObject as { uid?: string } | undefined)?.uid,
    }),
  };
  const terms = (selector ?? "")
    .split(",")
    .filter(Boolean)
    .map((term) => {
      const [field, value] = term.split("=") as [string, string | undefined];
      const read = fields[field];
      if (!read || value === undefined) throw apiError(400, "BadRequest", `"${term}" is not a known field selector: only "${Object.keys(fields).join('", "')}"`);
      return (object: StoredObject) => read(object) === value;
    });
  return (object) => terms.every((term) => term(object));
}
