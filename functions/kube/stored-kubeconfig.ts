import { parseDocument } from "yaml";
import { readParameter, readSecret } from "../aws/stored-text.ts";
import type { ClusterConfig } from "../config/schema.ts";

/**
 * A kubeconfig kept in SSM Parameter Store (SecureString) or Secrets Manager. Its text is a secret: no
 * error, log or report ever quotes it, so parse errors say where it came from and nothing of what it holds.
 */
export async function readStoredKubeconfig(cluster: ClusterConfig): Promise<string> {
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
  const document = parseDocument(text);
  if (document.errors.length > 0 || typeof document.toJS() !== "object") {
    throw new Error(`cluster ${cluster.name}: ${where} does not hold a kubeconfig (not a YAML mapping)`);
  }
  return text;
}
