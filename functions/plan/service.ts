import type { V1Service } from "@kubernetes/client-node";
import type { PortConfig } from "../config/schema.ts";
import { writerLabels, type Writer } from "../registry/labels.ts";

/** A selector-less Service whose ports send traffic straight to the backends' ports. */
export function buildService(namespace: string, name: string, ports: PortConfig[], writer: Writer): V1Service & { kind: "Service" } {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace, labels: writerLabels(writer) },
    spec: {
      ports: ports.map(({ name: portName, port, protocol, appProtocol }) => ({ name: portName, port, targetPort: port, protocol, appProtocol })),
    },
  };
}
