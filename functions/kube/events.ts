import type { CoreV1Event } from "@kubernetes/client-node";
import type { EndpointChange } from "../plan/changes.ts";
import { MANAGER } from "../registry/labels.ts";
import type { KubeClients } from "./client.ts";
import { KubeApiError } from "./errors.ts";

export interface ServiceEvent {
  type: "Normal" | "Warning";
  reason: string;
  message: string;
}

/** The API server takes more, but kubectl describe shows about this much. */
export const MAX_EVENT_MESSAGE = 1024;

/** The message as the Event holds it: cut to MAX_EVENT_MESSAGE. */
export const eventMessage = (message: string) => (message.length > MAX_EVENT_MESSAGE ? `${message.slice(0, MAX_EVENT_MESSAGE - 3)}...` : message);

/** An Event on the Service, so `kubectl describe service` shows what the syncer did and why. */
export async function recordServiceEvent(clients: KubeClients, service: { namespace: string; name: string; uid?: string }, event: ServiceEvent): Promise<void> {
  const now = new Date();
  const body: CoreV1Event = {
    metadata: { generateName: `${service.name}.`, namespace: service.namespace },
    involvedObject: { apiVersion: "v1", kind: "Service", name: service.name, namespace: service.namespace, uid: service.uid },
    type: event.type,
    reason: event.reason,
    message: eventMessage(event.message),
    source: { component: MANAGER },
    reportingComponent: MANAGER,
    reportingInstance: MANAGER,
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
  try {
    await clients.core.createNamespacedEvent({ namespace: service.namespace, body });
  } catch (error) {
    throw new KubeApiError(`create Event ${event.reason} for Service ${service.namespace}/${service.name}`, error);
  }
}

/** "2 ready, 1 not ready: + 10.0.0.4, ~ not ready 10.0.0.3", or undefined when no endpoint changed. */
export function describeEndpointChanges(changes: EndpointChange[], counts: { ready: number; notReady: number }): string | undefined {
  const byAddress = new Map(changes.map((change) => [change.address, change.change]));
  if (byAddress.size === 0) return undefined;
  const words: Record<EndpointChange["change"], string> = { added: "added", removed: "removed", ready: "ready", notReady: "not ready", updated: "updated" };
  const list = [...byAddress].map(([address, change]) => `${address} ${words[change]}`).join(", ");
  return `${counts.ready} ready, ${counts.notReady} not ready: ${list}`;
}
