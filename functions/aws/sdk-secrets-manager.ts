// The parts of the Secrets Manager client that stored kubeconfigs use; see sdk-ec2.ts.
export { GetSecretValueCommand, SecretsManagerClient } from "@aws-sdk/client-secrets-manager";
