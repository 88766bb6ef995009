import type { V1Service } from "@kubernetes/client-node";
import type { PortConfig } from "../config/schema.ts";
import { MANAGED_BY, MANAGER, OWNER } from "./labels.ts";

/** Pure: why we must not write endpoints for this Service, or undefined when we may. */
export function serviceProblem(service: V1Service, ports: PortConfig[]): string | undefined {
  const where = `Service ${service.metadata?.namespace}/${service.metadata?.name}`;
  const selector = service.spec?.selector;
  if (selector && Object.keys(selector).length > 0) {
    return `${where} has a selector (${Object.entries(selector).map(([key, value]) => `${key}=${value}`).join(",")}): its endpoints belong to Kubernetes, so we write none`;
  }
  if (service.spec?.type === "ExternalName") return `${where} is of type ExternalName, which has no endpoints`;
  const names = (service.spec?.ports ?? []).map((port) => port.name ?? "");
  const missing = ports.filter((port) => !names.includes(port.name ?? ""));
  if (missing.length > 0) {
    const has = names.map((name) => JSON.stringify(name)).join(", ") || "none";
    return `${where} has no port named ${missing.map((port) => JSON.stringify(port.name ?? "")).join(", ")} (its ports: ${has}): endpoint port names must equal the Service's`;
  }
  return undefined;
}

/** A selector-less Service whose ports send traffic straight to the backends' ports. */
export function buildService(namespace: string, name: string, ports: PortConfig[], ownerId: string): V1Service & { kind: "Service" } {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace, labels: { [MANAGED_BY]: MANAGER, [OWNER]: ownerId } },
    spec: {
      ports: ports.map(({ name: portName, port, protocol, appProtocol }) => ({ name: portName, port, targetPort: port, protocol, appProtocol })),
    },
  };
}
