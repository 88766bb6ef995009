// `clusters[]`: where each cluster is and how to reach it.
import * as z from "zod";
import { awsRegion, dnsLabel, roleArn } from "./common.ts";

/** Where a cluster's kubeconfig or credentials come from: at most one; none means KUBECONFIG or ~/.kube/config. */
const CLUSTER_ACCESS = ["kubeconfig", "kubeconfigData", "inCluster", "eks", "kubeconfigParameter", "kubeconfigSecret"] as const;
/** Kubeconfigs whose writer need not be whoever runs the function: their plugins are refused unless allowed. */
const STORED_KUBECONFIG = ["kubeconfigData", "kubeconfigParameter", "kubeconfigSecret"] as const;

export const clusterSchema = z
  .strictObject({
    name: dnsLabel.describe("How targets refer to this cluster."),
    kubeconfig: z.string().min(1).optional().describe("Path to a kubeconfig file; `~` and paths relative to the config file work."),
    kubeconfigData: z.string().min(1).optional().describe("A whole kubeconfig inline, as YAML text."),
    inCluster: z.literal(true, { error: "expected true" }).optional().describe("The cluster the function runs in, through its service account."),
    eks: z
      .strictObject({
        name: z.string().min(1).max(100).describe("The EKS cluster's name."),
        region: awsRegion.describe("The EKS cluster's region."),
        roleArn: roleArn.optional().describe("Assume this role to call DescribeCluster and sign the token."),
      })
      .optional().describe("An EKS cluster: endpoint and CA from DescribeCluster, a token signed with the function's (or the role's) credentials."),
    kubeconfigParameter: z.strictObject({ name: z.string().min(1).describe("The parameter's name."), region: awsRegion.describe("The parameter's region.") }).optional().describe("A kubeconfig kept in an SSM SecureString parameter."),
    kubeconfigSecret: z.strictObject({ id: z.string().min(1).describe("The secret's name or ARN."), region: awsRegion.describe("The secret's region.") }).optional().describe("A kubeconfig kept in Secrets Manager."),
    context: z.string().min(1).optional().describe("The kubeconfig context to use; default: its current-context."),
    allowAuthPlugins: z
      .boolean({ error: "expected true or false" })
      .optional()
      .describe(
        "Let a stored kubeconfig (kubeconfigData, kubeconfigParameter, kubeconfigSecret) use `exec` and `auth-provider` plugins: they run commands in the function, as whoever can write the kubeconfig.",
      ),
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
