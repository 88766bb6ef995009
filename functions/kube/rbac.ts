// The Kubernetes RBAC one cluster entry of a config needs, derived from it as infra/iam.ts derives IAM: each
// verb the syncer's calls use (kube/read.ts, kube/apply.ts, kube/events.ts, engine/prune.ts), on just the
// objects the config names wherever the API can name them, and nothing for what the config does not use.
// `external-endpoint-syncer rbac` prints it; the integration tests run the syncer under exactly this.
import type { V1ClusterRole, V1ClusterRoleBinding, V1PolicyRule, V1Role, V1RoleBinding, RbacV1Subject } from "@kubernetes/client-node";
import { Document, isScalar, visit, type YAMLSeq } from "yaml";
import type { Config, TargetConfig } from "../config/schema.ts";
import { MANAGER } from "../registry/labels.ts";
import { memoryName } from "../registry/remembered.ts";

/** Who the bindings grant to: the identity the syncer's credentials map to. */
export type RbacSubject = { kind: "Group" | "User"; name: string } | { kind: "ServiceAccount"; namespace: string; name: string };

/** The group docs/deploying.md's EKS access entry maps the functions' IAM role to. */
export const DEFAULT_SUBJECT: RbacSubject = { kind: "Group", name: MANAGER };

export type RbacObject =
  | (V1ClusterRole & { kind: "ClusterRole" })
  | (V1ClusterRoleBinding & { kind: "ClusterRoleBinding" })
  | (V1Role & { kind: "Role" })
  | (V1RoleBinding & { kind: "RoleBinding" });

/** One object, and for a (Cluster)Role why the syncer needs each of its rules, in order. */
export interface RbacDocument {
  object: RbacObject;
  reasons: string[];
}

interface ExplainedRule {
  rule: V1PolicyRule;
  why: string;
}

const CORE = "";
const DISCOVERY = "discovery.k8s.io";
const RBAC_GROUP = "rbac.authorization.k8s.io";
const NOT_BY_NAME = "create cannot be limited by resourceNames (the name is not known when it is authorized)";

/**
 * Pure: the ClusterRole and ClusterRoleBinding pruning needs (under policy sync), then a Role and RoleBinding in
 * each namespace where a target of `cluster` lives. The namespaces must exist. Names carry the ownerId and the
 * cluster entry, so owners sharing a cluster, or entries reaching the same API server, keep apart.
 */
export function clusterRbac(config: Pick<Config, "ownerId" | "policy" | "targets">, cluster: string, subject: RbacSubject = DEFAULT_SUBJECT): RbacDocument[] {
  const name = `${MANAGER}:${config.ownerId}:${cluster}`;
  const labels = { "app.kubernetes.io/name": MANAGER, "app.kubernetes.io/instance": config.ownerId };
  const subjects: RbacV1Subject[] = [subject.kind === "ServiceAccount" ? { ...subject } : { ...subject, apiGroup: RBAC_GROUP }];
  const pruning = config.policy === "sync";
  const documents: RbacDocument[] = [];

  if (pruning) {
    const rules: ExplainedRule[] = [
      {
        rule: { apiGroups: [DISCOVERY], resources: ["endpointslices"], verbs: ["list"] },
        why: "Pruning (policy: sync) finds what this installation wrote for Services that left the config, by label, in every namespace.",
      },
      { rule: { apiGroups: [CORE], resources: ["endpoints"], verbs: ["list"] }, why: "The same for Endpoints." },
    ];
    documents.push(
      { object: { apiVersion: `${RBAC_GROUP}/v1`, kind: "ClusterRole", metadata: { name, labels }, rules: rules.map(({ rule }) => rule) }, reasons: rules.map(({ why }) => why) },
      {
        object: { apiVersion: `${RBAC_GROUP}/v1`, kind: "ClusterRoleBinding", metadata: { name, labels }, roleRef: { apiGroup: RBAC_GROUP, kind: "ClusterRole", name }, subjects },
        reasons: [],
      },
    );
  }

  const byNamespace = new Map<string, TargetConfig[]>();
  for (const target of config.targets.filter((target) => target.cluster === cluster)) {
    byNamespace.set(target.namespace, [...(byNamespace.get(target.namespace) ?? []), target]);
  }
  for (const [namespace, targets] of [...byNamespace].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const rules = namespaceRules(targets, pruning);
    documents.push(
      { object: { apiVersion: `${RBAC_GROUP}/v1`, kind: "Role", metadata: { name, namespace, labels }, rules: rules.map(({ rule }) => rule) }, reasons: rules.map(({ why }) => why) },
      {
        object: { apiVersion: `${RBAC_GROUP}/v1`, kind: "RoleBinding", metadata: { name, namespace, labels }, roleRef: { apiGroup: RBAC_GROUP, kind: "Role", name }, subjects },
        reasons: [],
      },
    );
  }
  return documents;
}

/** What the targets of one namespace need there. */
function namespaceRules(targets: TargetConfig[], pruning: boolean): ExplainedRule[] {
  const names = (chosen: TargetConfig[], nameOf: (target: TargetConfig) => string) => [...new Set(chosen.map(nameOf))].sort();
  const services = names(targets, (target) => target.service);
  const creatingServices = targets.some((target) => target.createService);
  const publishingSlices = targets.some((target) => target.publish.endpointSlices);
  const publishingEndpoints = targets.filter((target) => target.publish.endpoints);
  const notPublishingEndpoints = targets.filter((target) => !target.publish.endpoints);

  const rules: ExplainedRule[] = [
    { rule: { apiGroups: [CORE], resources: ["services"], verbs: ["get"], resourceNames: services }, why: "Each target's Service, read every run." },
  ];
  if (creatingServices) {
    rules.push({
      rule: { apiGroups: [CORE], resources: ["services"], verbs: ["create"] },
      why: `createService: a missing Service is created selector-less. ${NOT_BY_NAME}, so this allows any new Service in this namespace.`,
    });
  }

  rules.push(
    {
      rule: { apiGroups: [CORE], resources: ["configmaps"], verbs: pruning ? ["get", "update", "delete"] : ["get", "update"], resourceNames: names(targets, (target) => memoryName(target.service)) },
      why:
        "Each target's memory between runs, and only that: no other ConfigMap here can be read, listed or changed." +
        (pruning ? " delete: pruning removes a memory once its target left the config, while this grant still names it." : ""),
    },
    {
      rule: { apiGroups: [CORE], resources: ["configmaps"], verbs: ["create"] },
      why: `A memory's first write. ${NOT_BY_NAME}: it lets the syncer add ConfigMaps here, never read or change existing ones.`,
    },
  );

  // Endpoints are named after their Service, so all but create (and pruning's delete) can be limited to them.
  // Ours go when the Service gains a selector or turns ExternalName, and when publish.endpoints is off; under
  // pruning the namespace-wide delete below covers that.
  const byNameDelete = pruning ? [] : ["delete"];
  if (publishingEndpoints.length > 0) {
    rules.push({
      rule: { apiGroups: [CORE], resources: ["endpoints"], verbs: ["get", "update", ...byNameDelete], resourceNames: names(publishingEndpoints, (target) => target.service) },
      why: `The Endpoints named after each target's Service (publish.endpoints), read and kept up to date${pruning ? "" : "; deleted if the Service gains a selector"}.`,
    });
  }
  if (notPublishingEndpoints.length > 0) {
    rules.push({
      rule: { apiGroups: [CORE], resources: ["endpoints"], verbs: ["get", ...byNameDelete], resourceNames: names(notPublishingEndpoints, (target) => target.service) },
      why: `publish.endpoints: false: read${pruning ? "" : ", and deleted if we wrote it before"}.`,
    });
  }
  const endpointsVerbs = [...(publishingEndpoints.length > 0 ? ["create"] : []), ...(pruning ? ["delete"] : [])];
  if (endpointsVerbs.length > 0) {
    rules.push({
      rule: { apiGroups: [CORE], resources: ["endpoints"], verbs: endpointsVerbs },
      why: [
        ...(publishingEndpoints.length > 0 ? [`create: ${NOT_BY_NAME}.`] : []),
        ...(pruning ? ["delete: pruning removes the Endpoints of Services that left the config, whose names this grant no longer knows."] : []),
      ].join(" "),
    });
  }

  rules.push(
    {
      rule: { apiGroups: [DISCOVERY], resources: ["endpointslices"], verbs: publishingSlices ? ["get", "list", "create", "update", "delete"] : ["get", "list", "delete"] },
      why:
        "The targets' EndpointSlices, found by label. Their names are generated (service-ipv4-N), so resourceNames cannot limit them. " +
        "delete: slices a change empties, ours when publish.endpointSlices is off, and (pruning) those of Services that left the config.",
    },
    {
      rule: { apiGroups: [CORE], resources: ["events"], verbs: ["create"] },
      why: "An Event on the Service for each change and failure (kubectl describe service). Events get generated names.",
    },
  );
  return rules;
}

/** The documents as multi-document YAML, each rule led by a comment that says why; `header` leads the first. */
export function rbacYaml(documents: RbacDocument[], header: string): string {
  if (documents.length === 0) return `${comment(`${header}\nNothing to grant: no target here, and no pruning.`).replaceAll(/^/gm, "#")}\n`;
  return documents
    .map(({ object, reasons }, index) => {
      const document = new Document(object);
      if (index === 0) document.commentBefore = comment(header);
      const rules = document.get("rules") as YAMLSeq | undefined;
      reasons.forEach((why, ruleIndex) => {
        const node = rules?.items[ruleIndex] as { commentBefore?: string } | undefined;
        if (node) node.commentBefore = comment(why);
      });
      // Lists of names and verbs on one line each, as hand-written RBAC reads.
      visit(document, { Seq: (_key, node) => void (node.flow = node.items.every(isScalar)) });
      return `---\n${document.toString({ lineWidth: 0, flowCollectionPadding: false })}`;
    })
    .join("");
}

/** Text as the lines of a YAML comment, wrapped at about 100 characters. */
function comment(text: string): string {
  const lines: string[] = [];
  for (const paragraph of text.split("\n")) {
    let line = "";
    for (const word of paragraph.split(" ")) {
      if (line && line.length + word.length > 98) {
        lines.push(line);
        line = "";
      }
      line += ` ${word}`;
    }
    lines.push(line);
  }
  return lines.join("\n");
}
