// The parts of the Route 53 client the Route 53 source uses; see sdk-ec2.ts.
export { GetHealthCheckStatusCommand, ListHostedZonesByNameCommand, ListResourceRecordSetsCommand, Route53Client } from "@aws-sdk/client-route-53";
