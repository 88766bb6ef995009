// What EKS runs in front of its API server (aws-iam-authenticator), as a webhook token authenticator for the
// local one (startLocalCluster's tokenWebhook): it takes an EKS token (`k8s-aws-v1.` + a presigned STS
// GetCallerIdentity URL), checks it names the cluster, sends that GetCallerIdentity to STS (moto, through the
// endpoint the functions use) and maps the caller's ARN as an EKS access entry would: to a username and groups.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";

const TOKEN_PREFIX = "k8s-aws-v1.";
/** EKS accepts a token for 15 minutes from its signing time, whatever its X-Amz-Expires says. */
const TOKEN_LIFETIME_MS = 15 * 60_000;
const STS_HOST = /^sts(\.[a-z0-9-]+)?\.amazonaws\.com$/;
const STS_TIMEOUT_MS = 5_000;

/** An access entry: the principal's ARN (an IAM user's or role's) and what it maps to. */
export interface AccessEntry {
  principalArn: string;
  /** Default, as EKS's: the caller's ARN (for a role, the assumed-role ARN with its session name). */
  username?: string;
  groups: string[];
}

export interface EksAuthenticator {
  /** For the API server's webhook config: where it posts its TokenReviews. */
  url: string;
  /** Every TokenReview answered, in order: whom the token's caller maps to, or why it was refused. */
  reviews: ({ username: string } | { refused: string })[];
  stop(): Promise<void>;
}

interface TokenReview {
  apiVersion: string;
  kind: "TokenReview";
  spec?: { token?: string };
}

export async function startEksAuthenticator(options: { clusterName: string; stsEndpoint: string; accessEntries: AccessEntry[] }): Promise<EksAuthenticator> {
  const reviews: EksAuthenticator["reviews"] = [];
  const server = createServer((incoming, response) => {
    void review(incoming, options).then(
      (user) => {
        reviews.push({ username: user.username });
        answer(response, { authenticated: true, user });
      },
      (error: Error) => {
        reviews.push({ refused: error.message });
        answer(response, { authenticated: false, error: error.message });
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/authenticate`,
    reviews,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function review(incoming: IncomingMessage, options: { clusterName: string; stsEndpoint: string; accessEntries: AccessEntry[] }) {
  const chunks: Buffer[] = [];
  for await (const chunk of incoming) chunks.push(chunk as Buffer);
  const token = (JSON.parse(Buffer.concat(chunks).toString("utf8")) as TokenReview).spec?.token ?? "";
  if (!token.startsWith(TOKEN_PREFIX)) throw new Error("not an EKS token");
  const url = new URL(Buffer.from(token.slice(TOKEN_PREFIX.length), "base64url").toString("utf8"));
  const query = url.searchParams;
  if (url.protocol !== "https:" || !STS_HOST.test(url.hostname) || url.pathname !== "/") throw new Error(`not an STS URL: ${url.origin}${url.pathname}`);
  if (query.get("Action") !== "GetCallerIdentity") throw new Error(`not GetCallerIdentity: ${query.get("Action")}`);
  if (!(query.get("X-Amz-SignedHeaders") ?? "").split(";").includes("x-k8s-aws-id")) throw new Error("the cluster's name (x-k8s-aws-id) is not signed");
  const signedAt = Date.parse((query.get("X-Amz-Date") ?? "").replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, "$1-$2-$3T$4:$5:$6Z"));
  if (!(Date.now() - signedAt < TOKEN_LIFETIME_MS)) throw new Error(`expired or undated: X-Amz-Date ${query.get("X-Amz-Date")}`);
  // The cluster's name goes in as the signed header: AWS's STS then refuses a token signed for another cluster
  // (moto checks no signature, so the tests cannot show that).
  const answer = await fetch(`${options.stsEndpoint}/${url.search}`, {
    headers: { "x-k8s-aws-id": options.clusterName },
    signal: AbortSignal.timeout(STS_TIMEOUT_MS),
  });
  const body = await answer.text();
  const arn = /<Arn>([^<]+)<\/Arn>/.exec(body)?.[1];
  if (!answer.ok || !arn) throw new Error(`STS refused the token: HTTP ${answer.status}`);
  // A role's session is known by its role: arn:aws:sts::A:assumed-role/R/S is arn:aws:iam::A:role/R.
  const principal = arn.replace(/^arn:([^:]+):sts::(\d+):assumed-role\/([^/]+)\/[^/]+$/, "arn:$1:iam::$2:role/$3");
  const entry = options.accessEntries.find((candidate) => candidate.principalArn === principal);
  if (!entry) throw new Error(`no access entry for ${arn}`);
  return { username: entry.username ?? arn, uid: `aws-iam-authenticator:${arn}`, groups: entry.groups };
}

function answer(response: ServerResponse, status: Record<string, unknown>): void {
  response.writeHead(200, { "content-type": "application/json" });
  response.end(JSON.stringify({ apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", status }));
}
