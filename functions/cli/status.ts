// `status`: what the syncer remembers of each backend and what it published, read as a sync reads it (the
// memory decoded and checked as untrusted, only our own objects claimed), with the reads its RBAC allows.
import pLimit from "p-limit";
import { loadConfig } from "../config/load.ts";
import type { TargetConfig } from "../config/schema.ts";
import type { BackendHealth } from "../decide/memory.ts";
import { UnknownTargetError } from "../engine/run.ts";
import { installationId } from "../env.ts";
import { errorMessage } from "../errors.ts";
import { ClusterConnections } from "../kube/client.ts";
import type { Writer } from "../registry/labels.ts";
import type { ForeignObject } from "../registry/ownership.ts";
import { readTarget, type TargetBasis, type TargetPublished } from "../registry/target.ts";
import { withAccess } from "./access.ts";
import type { CommandArgs } from "./args.ts";
import { cliLogger } from "./log.ts";
import { printOutput } from "./output.ts";

/** `status`: reads, never writes; 0 when every target was read, 1 when one could not be. */
export async function status({ options, output, logLevel }: CommandArgs): Promise<number> {
  const path = options.config!;
  const config = withAccess(await loadConfig(path), options, path);
  const identity = { ownerId: config.ownerId, installation: installationId(options.installation) };
  const report = await readStatus(config.targets, new ClusterConnections(config.clusters), identity, options.target);
  const log = cliLogger(logLevel);
  for (const target of report.targets) {
    if (target.error) log.error("target unreadable", { target: target.target, cluster: target.cluster, error: target.error });
  }
  printOutput(output, report, () => formatStatusTable(report));
  return report.targets.some((target) => target.error) ? 1 : 0;
}

export interface StatusReport {
  targets: TargetStatus[];
}

export interface TargetStatus {
  target: string;
  cluster: string;
  namespace: string;
  service: string;
  /** Why the target could not be read; nothing else is known then. */
  error?: string;
  /** Why a sync writes no endpoints for the Service as it is: missing, a selector, port names. */
  serviceProblem?: string;
  /** What was forgotten of the memory, or why there is none. */
  memoryProblem?: string;
  /** The guards that held back the last decision. */
  trippedGuards?: string[];
  /** The last SyncFailed Event's message, while the failure lasts. */
  syncFailed?: string;
  /** Every address remembered or published, in address order. */
  backends: BackendStatus[];
  /** Objects in the way of ours, left alone. */
  foreign: ForeignObject[];
}

export interface BackendStatus {
  address: string;
  /** In our EndpointSlices and Endpoints; absent when not published. */
  published?: { ready: boolean; terminating?: true };
  /** The sources that found it when it was last found; empty when not remembered. */
  sources: string[];
  /** Its remembered health; absent for a backend never checked (`check: none`) or not remembered. */
  health?: BackendHealth;
}

const TARGET_CONCURRENCY = 4;

/** Each selected target's status; a target that cannot be read says why and the others go on. */
export async function readStatus(
  targets: TargetConfig[],
  connections: ClusterConnections,
  identity: Omit<Writer, "cluster">,
  names: string[] | undefined,
): Promise<StatusReport> {
  const unknown = (names ?? []).filter((name) => !targets.some((target) => target.name === name));
  if (unknown.length > 0) throw new UnknownTargetError(unknown);
  const selected = names ? targets.filter((target) => names.includes(target.name)) : targets;
  const limit = pLimit(TARGET_CONCURRENCY);
  return {
    targets: await Promise.all(
      selected.map((target) =>
        limit(async (): Promise<TargetStatus> => {
          try {
            const reading = readTarget(await connections.get(target.cluster), target, { ...identity, cluster: target.cluster });
            return targetStatus(target, await reading.basis, await reading.published);
          } catch (error) {
            return { ...named(target), error: errorMessage(error), backends: [], foreign: [] };
          }
        }),
      ),
    ),
  };
}

const named = (target: TargetConfig) => ({ target: target.name, cluster: target.cluster, namespace: target.namespace, service: target.service });

/** Pure: one target's memory and published endpoints, backend by backend. */
export function targetStatus(target: TargetConfig, basis: TargetBasis, published: TargetPublished): TargetStatus {
  const { memory, problem } = basis.remembered;
  const backends = new Map<string, BackendStatus>();
  for (const [address, remembered] of Object.entries(memory.backends)) {
    backends.set(address, { address, sources: remembered.sources, ...(remembered.health && { health: remembered.health }) });
  }
  for (const endpoint of published.published) {
    const state = { ready: endpoint.ready, ...(endpoint.terminating && { terminating: true as const }) };
    backends.set(endpoint.address, { ...(backends.get(endpoint.address) ?? { address: endpoint.address, sources: [] }), published: state });
  }
  const serviceProblem = basis.service === undefined ? `Service ${target.namespace}/${target.service} not found` : basis.problem?.message;
  return {
    ...named(target),
    ...(serviceProblem && { serviceProblem }),
    ...(problem && { memoryProblem: problem }),
    ...(memory.trippedGuards?.length && { trippedGuards: memory.trippedGuards }),
    ...(memory.syncFailed && { syncFailed: memory.syncFailed }),
    backends: [...backends.values()].sort((a, b) => a.address.localeCompare(b.address, "en", { numeric: true })),
    // The memory ConfigMap in our way is told by memoryProblem.
    foreign: published.claimed.foreign.filter((object) => object.kind !== "ConfigMap"),
  };
}

/** Pure: one row per backend, then each target's notes and failure details. */
export function formatStatusTable(report: StatusReport): string {
  const header = ["TARGET", "ADDRESS", "PUBLISHED", "HEALTH", "STREAK", "LAST", "SINCE", "SOURCES"];
  const rows = report.targets.flatMap((target) =>
    target.backends.map((backend) => [
      target.target,
      backend.address,
      publishedAs(backend.published),
      backend.health ? (backend.health.healthy ? "healthy" : "unhealthy") : "unchecked",
      backend.health ? streakOf(backend.health) : "-",
      backend.health?.reason ?? "-",
      backend.health?.since ?? "-",
      backend.sources.join(",") || "-",
    ]),
  );
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]) => cells.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd();
  return [line(header), ...rows.map(line), ...report.targets.flatMap(notes)].join("\n");
}

function notes(target: TargetStatus): string[] {
  const lines: string[] = [];
  const add = (text: string) => lines.push(`${target.target}: ${text}`);
  if (target.error) add(`could not be read: ${target.error}`);
  if (target.serviceProblem) add(target.serviceProblem);
  if (target.memoryProblem) add(`memory: ${target.memoryProblem}`);
  if (target.trippedGuards) add(`guards holding changes back: ${target.trippedGuards.join(", ")}`);
  if (target.syncFailed) add(`failing: ${target.syncFailed}`);
  for (const backend of target.backends) if (backend.health?.detail) add(`${backend.address} ${backend.health.reason}: ${backend.health.detail}`);
  for (const foreign of target.foreign) add(`left alone ${foreign.kind} ${foreign.name}, managed by ${foreign.managedBy}`);
  if (!target.error && target.backends.length === 0) add("nothing remembered or published");
  return lines;
}

function publishedAs(published: BackendStatus["published"]): string {
  if (!published) return "no";
  return published.terminating ? "terminating" : published.ready ? "ready" : "not ready";
}

/** Runs in a row against its health: "2 failing" while healthy, "1 passing" while not. */
function streakOf(health: BackendHealth): string {
  if (health.streak === 0) return "0";
  return `${health.streak} ${health.healthy ? "failing" : "passing"}`;
}
