import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from "@smithy/types";
import { AWS_REQUEST_TIMEOUT_MS, clientOptionsWithin } from "../aws/request-handler.ts";

const TOKEN_PREFIX = "k8s-aws-v1.";
/** As the AWS CLI signs it; EKS itself accepts the token for 15 minutes from its signing time. */
const PRESIGNED_URL_SECONDS = 60;
/** Renewed well before EKS's 15 minutes run out, so a long run never holds an expired token. */
export const TOKEN_REUSE_MS = 10 * 60_000;
const QUERY_ORDER = [
  "Action",
  "Version",
  "X-Amz-Algorithm",
  "X-Amz-Credential",
  "X-Amz-Date",
  "X-Amz-Expires",
  "X-Amz-SignedHeaders",
  "X-Amz-Security-Token",
  "X-Amz-Signature",
];

/**
 * The bearer token EKS's authenticator accepts: a presigned STS GetCallerIdentity URL that signs the header
 * `x-k8s-aws-id: <cluster>`, base64url without padding. Signed by the AWS SDK's own SigV4 signer.
 */
export async function eksToken(cluster: string, region: string, credentials: AwsCredentialIdentity, signingDate = new Date()): Promise<string> {
  // Loaded on first use, like the EKS client: a config without EKS clusters never pays for the signer.
  const [{ SignatureV4 }, { Sha256 }] = await Promise.all([import("@smithy/signature-v4"), import("@aws-crypto/sha256-js")]);
  const hostname = `sts.${region}.amazonaws.com`;
  const signer = new SignatureV4({ credentials, region, service: "sts", sha256: Sha256 });
  const signed = await signer.presign(
    { method: "GET", protocol: "https:", hostname, path: "/", headers: { host: hostname, "x-k8s-aws-id": cluster }, query: { Action: "GetCallerIdentity", Version: "2011-06-15" } },
    { expiresIn: PRESIGNED_URL_SECONDS, signingDate },
  );
  const params = signed.query ?? {};
  // The AWS CLI's order, so a token can be compared with its `aws eks get-token` byte for byte.
  const query = [...QUERY_ORDER.filter((key) => key in params), ...Object.keys(params).filter((key) => !QUERY_ORDER.includes(key))]
    .map((key) => `${encodeURIComponent(key)}=${encodeURIComponent(String(params[key]))}`)
    .join("&");
  return TOKEN_PREFIX + Buffer.from(`https://${hostname}/?${query}`).toString("base64url");
}

export interface EksCluster {
  name: string;
  region: string;
  roleArn?: string;
}

export interface EksEndpoint {
  server: string;
  caData: string;
}

/** Endpoint and CA once per process; a token reused until TOKEN_REUSE_MS, then signed anew. */
export class EksAccess {
  readonly #cluster: EksCluster;
  #endpoint: Promise<EksEndpoint> | undefined;
  // Promises, so targets that ask at once (a cold start, a renewal) share one AssumeRole and one signing.
  #credentials: Promise<AwsCredentialIdentityProvider> | undefined;
  #token: { value: Promise<string>; signedAt: number } | undefined;

  constructor(cluster: EksCluster) {
    this.#cluster = cluster;
  }

  async endpoint(): Promise<EksEndpoint> {
    this.#endpoint ??= this.#describe();
    this.#endpoint.catch(() => (this.#endpoint = undefined));
    return this.#endpoint;
  }

  /** A token and whether it is new since the last call (the caller rebuilds its clients then). */
  async token(now = Date.now()): Promise<{ value: string; renewed: boolean }> {
    const current = this.#token;
    if (current && now - current.signedAt < TOKEN_REUSE_MS) return { value: await current.value, renewed: false };
    const signing = {
      value: this.#credentialProvider().then(async (provider) => eksToken(this.#cluster.name, this.#cluster.region, await provider(), new Date(now))),
      signedAt: now,
    };
    this.#token = signing;
    signing.value.catch(() => {
      if (this.#token === signing) this.#token = undefined;
    });
    return { value: await signing.value, renewed: true };
  }

  async #describe(): Promise<EksEndpoint> {
    // Loaded on first use: a config without EKS clusters never pays for the EKS client.
    const { EKSClient, DescribeClusterCommand } = await import("../aws/sdk-eks.ts");
    const client = new EKSClient({ region: this.#cluster.region, credentials: await this.#credentialProvider(), ...clientOptionsWithin(AWS_REQUEST_TIMEOUT_MS) });
    const { cluster } = await client.send(new DescribeClusterCommand({ name: this.#cluster.name }));
    const server = cluster?.endpoint;
    const caData = cluster?.certificateAuthority?.data;
    if (!server || !caData) throw new Error(`EKS cluster ${this.#cluster.name} in ${this.#cluster.region} has no endpoint or CA yet (status ${cluster?.status})`);
    return { server, caData };
  }

  #credentialProvider(): Promise<AwsCredentialIdentityProvider> {
    this.#credentials ??= import("@aws-sdk/credential-providers").then(({ fromNodeProviderChain, fromTemporaryCredentials }) => {
      const { roleArn, region } = this.#cluster;
      // For the STS calls: AssumeRole, and AssumeRoleWithWebIdentity where the chain finds a web identity token.
      const clientConfig = { region, ...clientOptionsWithin(AWS_REQUEST_TIMEOUT_MS) };
      // The provider caches temporary credentials and renews them before they expire.
      return roleArn ? fromTemporaryCredentials({ params: { RoleArn: roleArn, RoleSessionName: "external-endpoint-syncer" }, clientConfig }) : fromNodeProviderChain({ clientConfig });
    });
    return this.#credentials;
  }
}
