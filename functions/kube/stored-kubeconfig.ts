import { readParameter, readSecret } from "../aws/stored-text.ts";
import type { ClusterConfig } from "../config/schema.ts";
import type { KubeConfig } from "./client-node.ts";
import { kubeconfigFromText } from "./kubeconfig.ts";

/**
 * A kubeconfig kept in SSM Parameter Store (SecureString) or Secrets Manager. Its text is a secret: no
 * error, log or report ever quotes it, so errors say where it came from and nothing of what it holds.
 */
export async function readStoredKubeconfig(cluster: ClusterConfig): Promise<KubeConfig> {
  const where = cluster.kubeconfigParameter
    ? `SSM parameter ${cluster.kubeconfigParameter.name}`
    : `Secrets Manager secret ${cluster.kubeconfigSecret?.id}`;
  let text: string | undefined;
  try {
    text = cluster.kubeconfigParameter
      ? await readParameter(cluster.kubeconfigParameter.name, cluster.kubeconfigParameter.region)
      : await readSecret(cluster.kubeconfigSecret!.id, cluster.kubeconfigSecret!.region);
  } catch (error) {
    // AWS errors name the parameter and the reason (AccessDenied, ParameterNotFound), never its value.
    throw new Error(`cluster ${cluster.name}: cannot read the kubeconfig from ${where}: ${(error as Error).name}: ${(error as Error).message}`);
  }
  if (!text) throw new Error(`cluster ${cluster.name}: ${where} is empty`);
  return kubeconfigFromText(text, { cluster: cluster.name, where, stored: true, allowAuthPlugins: cluster.allowAuthPlugins });
}
