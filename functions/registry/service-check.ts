import type { V1Service } from "@kubernetes/client-node";
import type { PortConfig } from "../config/schema.ts";

/**
 * Why we must not write endpoints for a Service. `selector` and `externalName`: the Service is no longer ours to
 * feed, and what we published for it must go. `ports`: the config and the Service disagree on port names, and
 * either side may be the one that is wrong.
 */
export interface ServiceProblem {
  kind: "selector" | "externalName" | "ports";
  message: string;
}

/** Pure: why we must not write endpoints for this Service, or undefined when we may. */
export function serviceProblem(service: V1Service, ports: PortConfig[]): ServiceProblem | undefined {
  const where = `Service ${service.metadata?.namespace}/${service.metadata?.name}`;
  const selector = service.spec?.selector;
  if (selector && Object.keys(selector).length > 0) {
    const pairs = Object.entries(selector).map(([key, value]) => `${key}=${value}`).join(",");
    return { kind: "selector", message: `${where} has a selector (${pairs}): its endpoints belong to Kubernetes, so we write none` };
  }
  if (service.spec?.type === "ExternalName") return { kind: "externalName", message: `${where} is of type ExternalName, which has no endpoints` };
  const names = (service.spec?.ports ?? []).map((port) => port.name ?? "");
  const missing = ports.filter((port) => !names.includes(port.name ?? ""));
  if (missing.length > 0) {
    const has = names.map((name) => JSON.stringify(name)).join(", ") || "none";
    const wanted = missing.map((port) => JSON.stringify(port.name ?? "")).join(", ");
    return { kind: "ports", message: `${where} has no port named ${wanted} (its ports: ${has}): endpoint port names must equal the Service's` };
  }
  return undefined;
}
