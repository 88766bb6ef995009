// The functions' IAM statements, derived from the config they will run: each AWS action the config
// needs, on just the resources it names, and nothing for what it does not use. serverless.yml reads them
// through infra/iam.cjs when it packages.
import type { Config } from "../functions/config/schema.ts";

export interface IamStatement {
  Effect: "Allow";
  Action: string[];
  Resource: (string | { "Fn::Sub": string })[];
}

/** An ARN in this account and partition, resolved by CloudFormation. */
const arn = (service: string, region: string, resource: string) => ({ "Fn::Sub": `arn:\${AWS::Partition}:${service}:${region}:\${AWS::AccountId}:${resource}` });

export function iamStatements(config: Config, configParameter?: { name: string; region: string }): IamStatement[] {
  const statements: IamStatement[] = [];
  const assumed = new Set<string>();
  const parameters = configParameter ? [arn("ssm", configParameter.region, `parameter/${configParameter.name.replace(/^\//, "")}`)] : [];
  const secrets: IamStatement["Resource"] = [];
  const eksClusters: IamStatement["Resource"] = [];

  for (const cluster of config.clusters) {
    // With a role, DescribeCluster runs as that role: the function itself only needs to assume it.
    if (cluster.eks?.roleArn) assumed.add(cluster.eks.roleArn);
    else if (cluster.eks) eksClusters.push(arn("eks", cluster.eks.region, `cluster/${cluster.eks.name}`));
    if (cluster.kubeconfigParameter) parameters.push(arn("ssm", cluster.kubeconfigParameter.region, `parameter/${cluster.kubeconfigParameter.name.replace(/^\//, "")}`));
    if (cluster.kubeconfigSecret) {
      const { id, region } = cluster.kubeconfigSecret;
      // A secret's ARN ends in a random suffix that its name does not carry.
      secrets.push(id.startsWith("arn:") ? id : arn("secretsmanager", region, `secret:${id}-??????`));
    }
  }

  if (eksClusters.length > 0) statements.push({ Effect: "Allow", Action: ["eks:DescribeCluster"], Resource: eksClusters });
  if (parameters.length > 0) statements.push({ Effect: "Allow", Action: ["ssm:GetParameter"], Resource: parameters });
  if (secrets.length > 0) statements.push({ Effect: "Allow", Action: ["secretsmanager:GetSecretValue"], Resource: secrets });
  if (assumed.size > 0) statements.push({ Effect: "Allow", Action: ["sts:AssumeRole"], Resource: [...assumed].sort() });
  return statements;
}
