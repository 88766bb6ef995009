// The parts of the SSM client that stored configs and kubeconfigs use; see sdk-ec2.ts.
export { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
