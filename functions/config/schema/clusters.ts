// `clusters[]`: where each cluster is and how to reach it.
import * as z from "zod";
import { awsRegion, dnsLabel, roleArn } from "./common.ts";

/** Where a cluster's kubeconfig or credentials come from: at most one; none means KUBECONFIG or ~/.kube/config. */
const CLUSTER_ACCESS = ["kubeconfig", "kubeconfigData", "inCluster", "eks", "kubeconfigParameter", "kubeconfigSecret"] as const;
/** Kubeconfigs whose writer need not be whoever runs the function: their plugins are refused unless allowed. */
const STORED_KUBECONFIG = ["kubeconfigData", "kubeconfigParameter", "kubeconfigSecret"] as const;

export const clusterSchema = z
  .strictObject({
    name: dnsLabel,
    /** Path to a kubeconfig file; `~` and paths relative to the config file work. */
    kubeconfig: z.string().min(1).optional(),
    /** A whole kubeconfig inline, as YAML text. */
    kubeconfigData: z.string().min(1).optional(),
    inCluster: z.literal(true, { error: "expected true" }).optional(),
    /** An EKS cluster: endpoint and CA from DescribeCluster, a token signed with the function's (or the role's) credentials. */
    eks: z.strictObject({ name: z.string().min(1).max(100), region: awsRegion, roleArn: roleArn.optional() }).optional(),
    /** A kubeconfig kept in an SSM SecureString parameter. */
    kubeconfigParameter: z.strictObject({ name: z.string().min(1), region: awsRegion }).optional(),
    /** A kubeconfig kept in Secrets Manager. */
    kubeconfigSecret: z.strictObject({ id: z.string().min(1), region: awsRegion }).optional(),
    context: z.string().min(1).optional(),
    /**
     * Let a stored kubeconfig (kubeconfigData, kubeconfigParameter, kubeconfigSecret) use `exec` and
     * `auth-provider` plugins: they run commands in the function, as whoever can write the kubeconfig.
     */
    allowAuthPlugins: z.boolean({ error: "expected true or false" }).optional(),
  })
  .superRefine((cluster, ctx) => {
    const given = CLUSTER_ACCESS.filter((key) => cluster[key] !== undefined);
    if (given.length > 1) {
      ctx.addIssue({ code: "custom", message: `expected at most one of ${CLUSTER_ACCESS.join(", ")}; got ${given.join(" and ")}` });
    }
    if (cluster.allowAuthPlugins && STORED_KUBECONFIG.every((key) => cluster[key] === undefined)) {
      ctx.addIssue({ code: "custom", path: ["allowAuthPlugins"], message: `is for a stored kubeconfig (${STORED_KUBECONFIG.join(", ")}): a kubeconfig file may always use plugins` });
    }
    if ((cluster.inCluster || cluster.eks) && cluster.context) {
      ctx.addIssue({ code: "custom", path: ["context"], input: cluster.context, message: "a context needs a kubeconfig, not inCluster or eks" });
    }
  });

export type ClusterConfig = z.output<typeof clusterSchema>;
