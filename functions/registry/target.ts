import type { V1Service } from "@kubernetes/client-node";
import type { TargetConfig } from "../config/schema.ts";
import type { TargetMemory } from "../decide/memory.ts";
import type { KubeClients } from "../kube/client.ts";
import { readTargetState } from "../kube/read.ts";
import type { DesiredEndpoint } from "../model.ts";
import type { Writer } from "./labels.ts";
import { claimObjects, type Claimed } from "./ownership.ts";
import { overlaid, publishedViews } from "./published.ts";
import { readMemory } from "./remembered.ts";
import { serviceProblem, type ServiceProblem } from "./service-check.ts";

/** What is needed before probing: the Service, which may stop the target, and what the last run remembered. */
export interface TargetBasis {
  service: V1Service | undefined;
  /** Why we must not write for this Service as it is now. */
  problem?: ServiceProblem;
  /** Decoded and checked; `problem` says what was forgotten, or why there is no memory. */
  remembered: { memory: TargetMemory; problem?: string };
}

/** What is published for the target, split into what we may change and what we must leave. */
export interface TargetPublished {
  /** Ours, and adopted ones when the target says `adopt`. */
  claimed: Claimed;
  /** Ours alone, never adopting: what goes when the Service stops being ours to feed. */
  ours: Claimed;
  /** The endpoints the claimed objects publish now: the slices with the Endpoints laid over them. */
  published: DesiredEndpoint[];
  /** The slices' and the Endpoints' own views, each held to the removal cap. */
  views: DesiredEndpoint[][];
}

/**
 * One target's state as the cluster holds it, read as untrusted input and returned claimed and decoded: never
 * a raw object of someone else's or an unchecked memory. `published`, the largest part, is read while the
 * backends are probed.
 */
export function readTarget(
  clients: KubeClients,
  target: Pick<TargetConfig, "namespace" | "service" | "ports" | "adopt">,
  writer: Writer,
): { basis: Promise<TargetBasis>; published: Promise<TargetPublished> } {
  const reading = readTargetState(clients, target.namespace, target.service);
  const basis = reading.early.then(({ service, memory }) => {
    const problem = service && serviceProblem(service, target.ports);
    return { service, ...(problem && { problem }), remembered: readMemory(memory, writer) };
  });
  const published = Promise.all([reading.early, reading.published]).then(([{ memory }, { slices, endpoints }]) => {
    const claimed = claimObjects(slices, endpoints, writer, target.adopt, memory);
    const views = publishedViews(claimed.slices, claimed.endpoints);
    return {
      claimed,
      ours: claimObjects(slices, endpoints, writer, false),
      published: overlaid(views),
      views: [views.slices, views.endpoints].filter((view) => view !== undefined),
    };
  });
  // Awaited once the probes are done; a target that fails before then leaves it unheard, not unhandled.
  published.catch(() => {});
  return { basis, published };
}
