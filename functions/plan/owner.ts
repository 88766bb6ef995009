import type { V1OwnerReference } from "@kubernetes/client-node";
import type { PortConfig } from "../config/schema.ts";
import type { Writer } from "../registry/labels.ts";

/** What the planner needs to know about the Service it writes for. */
export interface ServiceRef {
  namespace: string;
  name: string;
  /** Unknown only in a dry run that would create the Service. */
  uid: string | undefined;
  writer: Writer;
  ports: PortConfig[];
}

/** Deleting the Service deletes what we wrote for it, through the garbage collector. */
export function ownerReferences(service: ServiceRef): V1OwnerReference[] {
  return service.uid === undefined ? [] : [{ apiVersion: "v1", kind: "Service", name: service.name, uid: service.uid, controller: true }];
}

export function endpointPorts(ports: PortConfig[]) {
  return ports.map(({ name, port, protocol, appProtocol }) => ({ name: name ?? "", port, protocol, appProtocol }));
}

/** An endpoint's ports: the target's, or its single port at the endpoint's own number (SRV, an EC2 port tag). */
export function portsFor(service: ServiceRef, port: number | undefined) {
  const ports = endpointPorts(service.ports);
  return port === undefined ? ports : ports.map((entry) => ({ ...entry, port }));
}

/** For a single-port target, the port an endpoint sits on: one of its fields, as a backend's own port can change. */
export function endpointPort(service: ServiceRef, ports: { port?: number }[] | undefined): number | undefined {
  return service.ports.length === 1 && ports?.length === 1 ? ports[0]!.port : undefined;
}
