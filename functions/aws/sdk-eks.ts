// The parts of the EKS client that EKS clusters use; see sdk-ec2.ts.
export { DescribeClusterCommand, EKSClient } from "@aws-sdk/client-eks";
