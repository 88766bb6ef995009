// Text kept in SSM Parameter Store or Secrets Manager. The clients load on first use: configs that keep
// nothing there never pay for them.
import { AWS_REQUEST_TIMEOUT_MS, clientOptionsWithin } from "./request-handler.ts";

export async function readParameter(name: string, region?: string): Promise<string | undefined> {
  const { SSMClient, GetParameterCommand } = await import("./sdk-ssm.ts");
  const response = await new SSMClient({ region, ...clientOptionsWithin(AWS_REQUEST_TIMEOUT_MS) }).send(new GetParameterCommand({ Name: name, WithDecryption: true }));
  return response.Parameter?.Value;
}

export async function readSecret(id: string, region: string): Promise<string | undefined> {
  const { SecretsManagerClient, GetSecretValueCommand } = await import("./sdk-secrets-manager.ts");
  const response = await new SecretsManagerClient({ region, ...clientOptionsWithin(AWS_REQUEST_TIMEOUT_MS) }).send(new GetSecretValueCommand({ SecretId: id }));
  return response.SecretString;
}
