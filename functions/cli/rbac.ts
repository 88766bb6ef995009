import { loadConfig } from "../config/load.ts";
import { clusterRbac, DEFAULT_SUBJECT, rbacYaml, type RbacSubject } from "../kube/rbac.ts";
import { UsageError, type CommandArgs } from "./args.ts";

/** `rbac`: prints what the config needs in each cluster (or the one named), bound to the subject chosen. */
export async function rbac({ options }: CommandArgs): Promise<number> {
  const path = options.config!;
  const config = await loadConfig(path);
  const chosen = [
    options.group !== undefined && ({ kind: "Group", name: options.group } as const),
    options.user !== undefined && ({ kind: "User", name: options.user } as const),
    options["service-account"] !== undefined && serviceAccount(options["service-account"]),
  ].filter((subject) => subject !== false);
  if (chosen.length > 1) throw new UsageError("give at most one of --group, --user, --service-account");
  const subject: RbacSubject = chosen[0] ?? DEFAULT_SUBJECT;
  if (subject.name === "") throw new UsageError(`--${subject.kind === "Group" ? "group" : "user"}: expected a name, got ""`);
  const clusters = config.clusters.map((cluster) => cluster.name);
  if (options.cluster !== undefined && !clusters.includes(options.cluster)) {
    throw new UsageError(`--cluster: no cluster named ${JSON.stringify(options.cluster)} in ${path} (have: ${clusters.join(", ")})`);
  }
  const bound = subject.kind === "ServiceAccount" ? `ServiceAccount ${subject.namespace}/${subject.name}` : `${subject.kind} ${subject.name}`;
  const output = (options.cluster !== undefined ? [options.cluster] : clusters).map((cluster) => {
    const documents = clusterRbac(config, cluster, subject);
    const header = [
      `external-endpoint-syncer RBAC for cluster ${JSON.stringify(cluster)} of ${path} (ownerId ${config.ownerId}, policy ${config.policy}), bound to ${bound}.`,
      "Apply to that cluster only; the namespaces must exist. Apply a config's RBAC before the config, and a narrower one only after the syncer has pruned under the wider.",
    ].join("\n");
    return rbacYaml(documents, header);
  });
  process.stdout.write(output.join(""));
  return 0;
}

/** "NS/NAME" as a ServiceAccount subject. */
function serviceAccount(value: string): RbacSubject {
  const [namespace = "", name = "", ...rest] = value.split("/");
  const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  const dnsSubdomain = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;
  if (rest.length > 0 || !dnsLabel.test(namespace) || !dnsSubdomain.test(name)) {
    throw new UsageError(`--service-account: expected NAMESPACE/NAME (lower-case DNS names), got ${JSON.stringify(value)}`);
  }
  return { kind: "ServiceAccount", namespace, name };
}
