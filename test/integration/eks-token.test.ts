// Our EKS bearer token against a reference made by another implementation: the AWS CLI's `aws eks get-token`
// (as `python3 -m awscli`, so no console script need be on PATH), with the same credentials, region and
// cluster, at a frozen clock (faketime).
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, it } from "node:test";
import { promisify } from "node:util";
import { eksToken } from "../../functions/kube/eks.ts";

const SIGNED_AT = "2026-01-02 03:04:05";

async function awsCliToken(cluster: string, region: string, credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }) {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    TZ: "UTC",
    AWS_ACCESS_KEY_ID: credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    AWS_CONFIG_FILE: "/dev/null",
    AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
    ...(credentials.sessionToken ? { AWS_SESSION_TOKEN: credentials.sessionToken } : {}),
  };
  const { stdout } = await promisify(execFile)("faketime", ["-f", SIGNED_AT, "python3", "-m", "awscli", "eks", "get-token", "--cluster-name", cluster, "--region", region], { env });
  return (JSON.parse(stdout) as { status: { token: string } }).status.token;
}

describe("EKS token", () => {
  const cases = [
    { title: "long-term keys", cluster: "prod-eks", region: "eu-west-1", credentials: { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" } },
    {
      title: "temporary credentials with a session token",
      cluster: "team-a",
      region: "us-east-2",
      credentials: { accessKeyId: "ASIAIOSFODNN7EXAMPLE", secretAccessKey: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY", sessionToken: "IQoJb3JpZ2luX2VjEXAMPLE+/session=token" },
    },
  ];
  for (const { title, cluster, region, credentials } of cases) {
    it(`matches the AWS CLI's token exactly, for ${title}`, async () => {
      const reference = await awsCliToken(cluster, region, credentials);
      const ours = await eksToken(cluster, region, credentials, new Date(`${SIGNED_AT.replace(" ", "T")}Z`));
      assert.equal(ours, reference);
      const url = new URL(Buffer.from(ours.slice("k8s-aws-v1.".length), "base64url").toString());
      assert.equal(url.host, `sts.${region}.amazonaws.com`);
      assert.equal(url.searchParams.get("X-Amz-SignedHeaders"), "host;x-k8s-aws-id");
      assert.equal(ours.endsWith("="), false, "unpadded base64url");
    });
  }
});
