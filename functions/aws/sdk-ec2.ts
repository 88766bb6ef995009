// The parts of the EC2 client the EC2 source uses. Imported dynamically, on first use: a module that re-exports
// only these lets the bundler leave the rest of the client (every other command) out of the chunk.
export { DescribeInstancesCommand, EC2Client } from "@aws-sdk/client-ec2";
