// serverless.yml's dispatch queue and the worker's side of it (docs/architecture.md, Scaling out): a FIFO queue
// with a dead-letter queue, the worker's own role, and the mapping that feeds it. sync and trigger keep the
// framework's shared role, which may send to the queue (infra/iam.cjs). The mapping is written here rather than
// as a serverless `sqs` event, which would also grant the shared role the right to receive.
import type { IamStatement } from "./iam.ts";
import { DISPATCH_QUEUE } from "./iam.ts";

/** Receives of a shard before SQS moves it to the dead-letter queue; the worker logs the last one. */
export const MAX_RECEIVE_COUNT = 3;
/** The queue hides a received shard this many worker timeouts: never redelivered while a worker may still run. */
const VISIBILITY_TIMEOUTS = 3;
/** 14 days, SQS's longest: time to look at what went to the dead-letter queue. */
const DEAD_LETTER_RETENTION_SECONDS = 1_209_600;

export interface WorkerSettings {
  /** The worker's role, named as the framework names the shared one, for EKS access entries (docs/deploying.md). */
  roleName: string;
  logGroup: string;
  /** The service and stage: `external-endpoint-syncer-prod`. */
  queuePrefix: string;
  /** What the config needs, and taking from the queue (infra/iam.cjs's `worker`). */
  statements: IamStatement[];
  workerTimeoutSeconds: number;
  /** The functions run in a VPC: the role may then manage network interfaces. */
  vpc: boolean;
}

type Resource = { Type: string; Properties: Record<string, unknown> };

export function workerResources({ roleName, logGroup, queuePrefix, statements, workerTimeoutSeconds, vpc }: WorkerSettings): Record<string, Resource> {
  const logs = `arn:\${AWS::Partition}:logs:\${AWS::Region}:\${AWS::AccountId}:log-group:${logGroup}`;
  return {
    DispatchDeadLetterQueue: {
      Type: "AWS::SQS::Queue",
      Properties: { QueueName: `${queuePrefix}-dead-letter.fifo`, FifoQueue: true, MessageRetentionPeriod: DEAD_LETTER_RETENTION_SECONDS },
    },
    [DISPATCH_QUEUE]: {
      Type: "AWS::SQS::Queue",
      Properties: {
        QueueName: `${queuePrefix}-shards.fifo`,
        FifoQueue: true,
        VisibilityTimeout: VISIBILITY_TIMEOUTS * workerTimeoutSeconds,
        RedrivePolicy: { deadLetterTargetArn: { "Fn::GetAtt": ["DispatchDeadLetterQueue", "Arn"] }, maxReceiveCount: MAX_RECEIVE_COUNT },
      },
    },
    WorkerRole: {
      Type: "AWS::IAM::Role",
      Properties: {
        RoleName: roleName,
        AssumeRolePolicyDocument: { Version: "2012-10-17", Statement: [{ Effect: "Allow", Principal: { Service: ["lambda.amazonaws.com"] }, Action: ["sts:AssumeRole"] }] },
        Policies: [
          {
            PolicyName: roleName,
            PolicyDocument: {
              Version: "2012-10-17",
              Statement: [
                { Effect: "Allow", Action: ["logs:CreateLogStream", "logs:CreateLogGroup", "logs:TagResource"], Resource: [{ "Fn::Sub": `${logs}:*` }] },
                { Effect: "Allow", Action: ["logs:PutLogEvents"], Resource: [{ "Fn::Sub": `${logs}:*:*` }] },
                ...statements,
              ],
            },
          },
        ],
        ...(vpc && { ManagedPolicyArns: [{ "Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole" }] }),
      },
    },
    WorkerEventSourceMapping: {
      Type: "AWS::Lambda::EventSourceMapping",
      Properties: {
        EventSourceArn: { "Fn::GetAtt": [DISPATCH_QUEUE, "Arn"] },
        FunctionName: { "Fn::GetAtt": ["WorkerLambdaFunction", "Arn"] },
        // A shard is already sized for one invocation.
        BatchSize: 1,
        FunctionResponseTypes: ["ReportBatchItemFailures"],
        Enabled: true,
      },
    },
  };
}
