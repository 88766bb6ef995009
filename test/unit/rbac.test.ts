// The RBAC derived from a config (functions/kube/rbac.ts): exact resourceNames, never a ConfigMap list or
// read beyond the memories, Service create only for createService, pruning's cluster-wide list only under
// policy sync, publish switches, subjects, one cluster's targets only; every client method the functions
// call is granted; the YAML reads back as the objects, with the reasons as comments. That the API server
// lets the syncer work under exactly this, and nothing more, is in test/integration/rbac.test.ts.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { validateConfig } from "../../functions/config/load.ts";
import type { Config } from "../../functions/config/schema.ts";
import { CORE_V1_METHODS, DISCOVERY_V1_METHODS } from "../../functions/kube/api-methods.ts";
import { clusterRbac, rbacYaml, type RbacObject } from "../../functions/kube/rbac.ts";

function config(targets: Record<string, unknown>[], extra: Record<string, unknown> = {}): Config {
  const result = validateConfig({
    clusters: [{ name: "prod" }, { name: "other" }],
    targets: targets.map((target, index) => ({
      name: `t${index}`,
      cluster: "prod",
      ports: [{ port: 80 }],
      sources: [{ static: [{ address: "192.0.2.1" }] }],
      ...target,
    })),
    ...extra,
  });
  if (!result.ok) throw new Error(result.problems.join("\n"));
  return result.config;
}

const objects = (input: Config, cluster = "prod") => clusterRbac(input, cluster).map((document) => document.object);
const role = (input: Config, namespace: string) => objects(input).find((object) => object.kind === "Role" && object.metadata?.namespace === namespace);
/** A Role's rules as "resource verb,verb [name,name]" lines. */
const rulesOf = (object: RbacObject | undefined) =>
  (object && "rules" in object ? (object.rules ?? []) : []).map(
    (rule) => `${rule.resources!.join(",")} ${rule.verbs.join(",")}${rule.resourceNames ? ` [${rule.resourceNames.join(",")}]` : ""}`,
  );

describe("RBAC derived from the config", () => {
  it("grants exactly this for a typical config: pruning's cluster-wide lists, and per namespace the targets' objects by name", () => {
    const input = config([
      { namespace: "kube-system", service: "etcd-k8s" },
      { namespace: "data", service: "pg" },
      { namespace: "data", service: "redis" },
    ]);
    const labels = { "app.kubernetes.io/name": "external-endpoint-syncer", "app.kubernetes.io/instance": "default" };
    const subjects = [{ kind: "Group", name: "external-endpoint-syncer", apiGroup: "rbac.authorization.k8s.io" }];
    const name = "external-endpoint-syncer:default:prod";
    const binding = (namespace: string) => ({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, namespace, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects,
    });
    const namespaceRole = (namespace: string, services: string[]) => ({
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name, namespace, labels },
      rules: [
        { apiGroups: [""], resources: ["services"], verbs: ["get"], resourceNames: services },
        { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "update", "delete"], resourceNames: services.map((service) => `${service}-ees-memory`) },
        { apiGroups: [""], resources: ["configmaps"], verbs: ["create"] },
        { apiGroups: [""], resources: ["endpoints"], verbs: ["get", "update"], resourceNames: services },
        { apiGroups: [""], resources: ["endpoints"], verbs: ["create", "delete"] },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["get", "list", "create", "update", "delete"] },
        { apiGroups: [""], resources: ["events"], verbs: ["create"] },
      ],
    });
    assert.deepEqual(objects(input), [
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name, labels },
        rules: [
          { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list"] },
          { apiGroups: [""], resources: ["endpoints"], verbs: ["list"] },
        ],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name, labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
        subjects,
      },
      namespaceRole("data", ["pg", "redis"]),
      binding("data"),
      namespaceRole("kube-system", ["etcd-k8s"]),
      binding("kube-system"),
    ]);
  });

  it("never lets the syncer list, watch or read a ConfigMap other than its memories, nor use a wildcard", () => {
    const inputs = [
      config([{ namespace: "kube-system", service: "a", createService: true }, { namespace: "kube-system", service: "b", publish: { endpoints: false, endpointSlices: false } }]),
      config([{ namespace: "kube-system", service: "a" }], { policy: "upsert-only" }),
      config([]),
    ];
    for (const input of inputs) {
      for (const object of objects(input)) {
        for (const rule of "rules" in object ? (object.rules ?? []) : []) {
          assert.ok(![...rule.verbs, ...rule.resources!, ...rule.apiGroups!].includes("*"), JSON.stringify(rule));
          if (!rule.resources!.includes("configmaps")) continue;
          if (rule.resourceNames) assert.ok(rule.resourceNames.every((name) => name.endsWith("-ees-memory")), JSON.stringify(rule));
          else assert.deepEqual(rule.verbs, ["create"], `${object.kind} ${object.metadata?.namespace}: only create is not by name`);
          assert.ok(!rule.verbs.includes("list") && !rule.verbs.includes("watch"), JSON.stringify(rule));
        }
      }
    }
  });

  it("grants Service create only in a namespace where a target asks for createService", () => {
    const input = config([
      { namespace: "made", service: "a", createService: true },
      { namespace: "made", service: "b" },
      { namespace: "given", service: "c" },
    ]);
    assert.ok(rulesOf(role(input, "made")).includes("services create"));
    assert.deepEqual(rulesOf(role(input, "given")).filter((rule) => rule.startsWith("services")), ["services get [c]"]);
  });

  it("under policy upsert-only grants no cluster-wide list, and deletes only the targets' own objects", () => {
    const input = config([{ namespace: "ns", service: "a" }, { namespace: "ns", service: "b", publish: { endpoints: false } }], { policy: "upsert-only" });
    assert.deepEqual(objects(input).map((object) => object.kind), ["Role", "RoleBinding"]);
    assert.deepEqual(rulesOf(role(input, "ns")), [
      "services get [a,b]",
      "configmaps get,update [a-ees-memory,b-ees-memory]",
      "configmaps create",
      "endpoints get,update,delete [a]",
      "endpoints get,delete [b]",
      "endpoints create",
      "endpointslices get,list,create,update,delete",
      "events create",
    ]);
  });

  it("writes no Endpoints or EndpointSlices where no target publishes them, and still deletes ours", () => {
    const input = config([{ namespace: "ns", service: "a", publish: { endpoints: false, endpointSlices: false } }]);
    assert.deepEqual(rulesOf(role(input, "ns")).filter((rule) => rule.startsWith("endpoint")), [
      "endpoints get [a]",
      "endpoints delete",
      "endpointslices get,list,delete",
    ]);
  });

  it("binds to the subject given, and names objects after the ownerId and the cluster entry", () => {
    const input = config([{ namespace: "ns", service: "a" }], { ownerId: "team-a" });
    const [clusterRole, clusterBinding] = clusterRbac(input, "prod", { kind: "ServiceAccount", namespace: "ees", name: "syncer" }).map((document) => document.object);
    assert.equal(clusterRole?.metadata?.name, "external-endpoint-syncer:team-a:prod");
    assert.deepEqual(clusterBinding && "subjects" in clusterBinding && clusterBinding.subjects, [{ kind: "ServiceAccount", namespace: "ees", name: "syncer" }]);
    const [, userBinding] = clusterRbac(input, "prod", { kind: "User", name: "arn:aws:iam::1:role/x" }).map((document) => document.object);
    assert.deepEqual(userBinding && "subjects" in userBinding && userBinding.subjects, [{ kind: "User", name: "arn:aws:iam::1:role/x", apiGroup: "rbac.authorization.k8s.io" }]);
  });

  it("grants in a cluster only what that cluster's targets need, and pruning there even without targets", () => {
    const input = config([{ namespace: "ns", service: "a" }, { namespace: "elsewhere", service: "b", cluster: "other" }]);
    assert.deepEqual(objects(input, "other").map((object) => `${object.kind} ${object.metadata?.namespace ?? ""}`), ["ClusterRole ", "ClusterRoleBinding ", "Role elsewhere", "RoleBinding elsewhere"]);
    assert.deepEqual(objects(config([]), "other").map((object) => object.kind), ["ClusterRole", "ClusterRoleBinding"]);
    assert.deepEqual(objects(config([], { policy: "upsert-only" }), "other"), []);
  });

  it("grants every call the functions make, for a config that uses every feature", () => {
    // The verb each client-node method needs, and on which resource.
    const needed = [...CORE_V1_METHODS, ...DISCOVERY_V1_METHODS].map((method) => {
      const [, action = "", namespaced, kind = ""] = /^(read|create|replace|delete|list)(Namespaced)?(\w+?)(ForAllNamespaces)?$/.exec(method) ?? [];
      const verb = { read: "get", create: "create", replace: "update", delete: "delete", list: "list" }[action];
      const resource = { Service: "services", Endpoints: "endpoints", ConfigMap: "configmaps", Event: "events", EndpointSlice: "endpointslices" }[kind];
      return { method, verb, resource, clusterWide: !namespaced };
    });
    // In api-methods.ts, but no function calls them: apply.ts only ever creates a Service; tests list Events and ConfigMaps.
    const uncalled = ["replaceNamespacedService", "deleteNamespacedService", "listNamespacedEvent", "listNamespacedConfigMap"];
    const input = config([
      { namespace: "ns", service: "a", createService: true },
      { namespace: "ns", service: "b", publish: { endpoints: false, endpointSlices: false } },
    ]);
    const granted = objects(input).flatMap((object) =>
      ("rules" in object ? (object.rules ?? []) : []).flatMap((rule) =>
        rule.verbs.flatMap((verb) => rule.resources!.map((resource) => `${object.kind === "ClusterRole" ? "cluster" : "ns"} ${verb} ${resource}`)),
      ),
    );
    for (const { method, verb, resource, clusterWide } of needed) {
      assert.ok(verb && resource, `cannot tell what ${method} needs`);
      const grant = `${clusterWide ? "cluster" : "ns"} ${verb} ${resource}`;
      assert.equal(granted.includes(grant), !uncalled.includes(method), `${method}: ${grant}`);
    }
  });

  it("prints YAML that reads back as the objects, each rule led by why, create's limit said", () => {
    const documents = clusterRbac(config([{ namespace: "ns", service: "a" }]), "prod");
    const text = rbacYaml(documents, "header");
    assert.deepEqual(parseAllDocuments(text).map((document) => (Array.isArray(document) ? undefined : document.toJS())), documents.map(({ object }) => object));
    assert.match(text, /^---\n# header\n/);
    assert.match(text, /# A memory's first write\. create cannot be limited by resourceNames[^-]*\n *- apiGroups: \[""\]\n *resources: \[configmaps\]\n *verbs: \[create\]/);
  });
});
