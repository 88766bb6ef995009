// The parts of the SQS client the dispatcher uses; see sdk-ec2.ts.
export { SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
