// AWS clients for the EC2 and Route 53 sources. The SDK is loaded on first use, so a config without such
// sources never loads it (cold start), and each client is made once per process: its credentials (an assumed
// role's included) are cached by the SDK until five minutes before they expire.
import type { EC2Client } from "@aws-sdk/client-ec2";
import type { Route53Client } from "@aws-sdk/client-route-53";
import { clientOptionsWithin } from "../aws/request-handler.ts";

export interface AwsAccess {
  role?: { arn: string; externalId?: string };
  endpoint?: string;
  timeoutMs: number;
}

/** Route 53 is global; its API is signed for us-east-1. */
const ROUTE53_REGION = "us-east-1";
const SESSION_NAME = "external-endpoint-syncer";

const clients = new Map<string, Promise<unknown>>();

export function ec2Client(region: string, access: AwsAccess): Promise<EC2Client> {
  return cached(`ec2 ${region}`, access, async () => {
    const { EC2Client } = await import("../aws/sdk-ec2.ts");
    return new EC2Client(await clientConfig(region, access));
  });
}

export function route53Client(access: AwsAccess): Promise<Route53Client> {
  return cached("route53", access, async () => {
    const { Route53Client } = await import("../aws/sdk-route53.ts");
    return new Route53Client(await clientConfig(ROUTE53_REGION, access));
  });
}

function cached<T>(service: string, access: AwsAccess, make: () => Promise<T>): Promise<T> {
  const key = JSON.stringify([service, access.role?.arn, access.role?.externalId, access.endpoint, access.timeoutMs]);
  let client = clients.get(key) as Promise<T> | undefined;
  if (!client) {
    // A client that could not be made (the SDK failed to load) is tried afresh next time.
    client = make().catch((error: unknown) => {
      clients.delete(key);
      throw error;
    });
    clients.set(key, client);
  }
  return client;
}

async function clientConfig(region: string, access: AwsAccess) {
  // The role's STS client shares it, limit included.
  const config = { region, endpoint: access.endpoint, ...clientOptionsWithin(access.timeoutMs) };
  if (!access.role) return config;
  const { fromTemporaryCredentials } = await import("@aws-sdk/credential-providers");
  const credentials = fromTemporaryCredentials({
    params: { RoleArn: access.role.arn, ExternalId: access.role.externalId, RoleSessionName: SESSION_NAME },
    clientConfig: config,
  });
  return { ...config, credentials };
}

/** An AWS error as one line that names the call and where it went; never credentials. */
export function describeAwsError(call: string, error: unknown): string {
  const failure = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number; attempts?: number } };
  const attempts = failure.$metadata?.attempts;
  const status = failure.$metadata?.httpStatusCode;
  const detail = [status && `HTTP ${status}`, attempts && attempts > 1 && `after ${attempts} attempts`].filter(Boolean).join(", ");
  const message = failure.message && failure.message !== failure.name ? `: ${failure.message}` : "";
  return `${call} failed${detail ? ` (${detail})` : ""}: ${failure.name ?? "Error"}${message}`;
}
