// The functions' IAM statements, derived from the config they will run: each AWS action the config
// needs, on just the resources it names, and nothing for what it does not use. serverless.yml reads them
// through infra/iam.cjs when it packages.
import type { Config } from "../functions/config/schema.ts";

export interface IamStatement {
  Effect: "Allow";
  Action: string[];
  Resource: (string | { "Fn::Sub": string } | { "Fn::GetAtt": [string, string] })[];
  Condition?: Record<string, Record<string, string[]>>;
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
  statements.push(...sourceStatements(config, assumed));
  if (assumed.size > 0) statements.push({ Effect: "Allow", Action: ["sts:AssumeRole"], Resource: [...assumed].sort() });
  return statements;
}

// --- Sources (EC2, Route 53) -------------------------------------------------------------------------
// A source with a role makes its calls as that role: the function only needs to assume it (added to
// `assumed`), and the role's own policy grants the calls. The others are granted here, as narrowly as
// each action allows.
function sourceStatements(config: Config, assumed: Set<string>): IamStatement[] {
  const ec2Regions = new Set<string>();
  const zones = new Set<string>();
  let zoneByName = false;
  let healthChecks = false;
  for (const source of config.targets.flatMap((target) => target.sources)) {
    const aws = source.ec2 ?? source.route53;
    if (aws?.role) {
      assumed.add(aws.role.arn);
      continue;
    }
    for (const region of source.ec2?.regions ?? []) ec2Regions.add(region);
    if (source.route53) {
      // A zone looked up by name has an id only at run time.
      zones.add(source.route53.zoneId ? `hostedzone/${source.route53.zoneId.replace(/^\/hostedzone\//, "")}` : "hostedzone/*");
      zoneByName ||= source.route53.zoneName !== undefined;
      healthChecks ||= source.route53.healthChecks;
    }
  }
  // Route 53 ARNs name no region and no account.
  const route53 = (resource: string) => ({ "Fn::Sub": `arn:\${AWS::Partition}:route53:::${resource}` });
  const statements: IamStatement[] = [];
  if (ec2Regions.size > 0) {
    // DescribeInstances takes no resource; the regions it may ask are the config's.
    statements.push({ Effect: "Allow", Action: ["ec2:DescribeInstances"], Resource: ["*"], Condition: { StringEquals: { "aws:RequestedRegion": [...ec2Regions].sort() } } });
  }
  if (zones.size > 0) statements.push({ Effect: "Allow", Action: ["route53:ListResourceRecordSets"], Resource: [...zones].sort().map(route53) });
  if (zoneByName) statements.push({ Effect: "Allow", Action: ["route53:ListHostedZonesByName"], Resource: ["*"] });
  if (healthChecks) statements.push({ Effect: "Allow", Action: ["route53:GetHealthCheckStatus"], Resource: [route53("healthcheck/*")] });
  return statements;
}

// --- The dispatch queue ------------------------------------------------------------------------------
/** The queue's logical id in serverless.yml's resources (infra/resources.ts). */
export const DISPATCH_QUEUE = "DispatchQueue";

/** The dispatcher (the sync function) may only send to the queue; the worker may only take from it. */
export function dispatchStatements(): { dispatcher: IamStatement[]; worker: IamStatement[] } {
  const queue = { "Fn::GetAtt": [DISPATCH_QUEUE, "Arn"] as [string, string] };
  return {
    dispatcher: [{ Effect: "Allow", Action: ["sqs:SendMessage"], Resource: [queue] }],
    worker: [{ Effect: "Allow", Action: ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], Resource: [queue] }],
  };
}
