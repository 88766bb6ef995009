import { createServer, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { constants } from "node:os";
import type { Config } from "./config/schema.ts";
import { syncEvery } from "./engine/ticks.ts";
import { ClusterConnections } from "./kube/client.ts";
import { logger, publishRun } from "./observability.ts";

/** After the first SIGTERM or SIGINT, how long the run under way may take to write what it decided. */
export const STOP_GRACE_MS = 20_000;
/** Runs missed before /healthz answers 503: as many as the memory's streaks outlive (3), plus one run's deadline. */
export const LIVE_INTERVALS = 4;
/** Slow or idle liveness clients are dropped after this. */
const LIVENESS_REQUEST_TIMEOUT_MS = 5_000;

export interface ListenAddress {
  /** undefined: every interface (a pod's kubelet probes its IP). */
  host?: string;
  port: number;
}

export interface LoopOptions {
  installation: string;
  /** Where to answer GET /healthz; nowhere when left out. */
  liveness?: ListenAddress;
  /** Stops the loop: the run under way stops probing, writes what it decided, and runLoop returns. */
  signal: AbortSignal;
}

/**
 * The long-running process: syncs every `config.syncIntervalSeconds` with one set of clients, logging each run
 * as the scheduled function does (JSON lines), until `signal` aborts.
 */
export async function runLoop(config: Config, options: LoopOptions): Promise<void> {
  const intervalMs = config.syncIntervalSeconds * 1000;
  const state: LoopState = { startedAt: Date.now(), runs: 0 };
  const server = options.liveness && (await serveLiveness(options.liveness, () => liveness(state, intervalMs, Date.now())));
  logger.info("loop started", { intervalSeconds: config.syncIntervalSeconds, targets: config.targets.length, ...(server && { liveness: server.address() as AddressInfo }) });
  try {
    for await (const tick of syncEvery(config, new ClusterConnections(config.clusters), options)) {
      publishRun(tick.report, config.metrics);
      state.runs++;
      state.lastFinishedAt = tick.finishedAt;
      state.lastOk = tick.report.ok;
      if (tick.overrunMs > 0) logger.warn("run outlasted the interval: the next starts now", { durationMs: tick.finishedAt - tick.startedAt, overrunMs: tick.overrunMs, intervalSeconds: config.syncIntervalSeconds });
    }
  } finally {
    if (server) await closeServer(server);
  }
  logger.info("loop stopped", { runs: state.runs });
}

/**
 * A signal for runLoop that the first SIGTERM or SIGINT aborts; the process then has STOP_GRACE_MS to finish.
 * A second signal, or the grace running out, ends it at once.
 */
export function stopOnSignals(): AbortSignal {
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) {
      logger.warn("second signal: exiting without finishing the run", { signal });
      process.exit(128 + constants.signals[signal]);
    }
    logger.info("stopping: the run under way stops probing and writes what it decided", { signal, graceMs: STOP_GRACE_MS });
    stop.abort(new Error(`received ${signal}`));
    setTimeout(() => {
      logger.error("the run did not finish within the grace period: exiting", { graceMs: STOP_GRACE_MS });
      process.exit(1);
    }, STOP_GRACE_MS).unref();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  return stop.signal;
}

export interface LoopState {
  startedAt: number;
  runs: number;
  lastFinishedAt?: number;
  lastOk?: boolean;
}

export interface Liveness {
  live: boolean;
  runs: number;
  /** Since the last run finished (or the loop started, before the first). */
  sinceMs: number;
  limitMs: number;
  lastRunOk?: boolean;
}

/**
 * Pure: live while runs keep finishing, however they went. A failing run is the run's business (logs, metrics,
 * the heartbeat); restarting the process helps only when the loop itself is stuck.
 */
export function liveness(state: LoopState, intervalMs: number, now: number): Liveness {
  const sinceMs = now - (state.lastFinishedAt ?? state.startedAt);
  const limitMs = LIVE_INTERVALS * intervalMs;
  return { live: sinceMs <= limitMs, runs: state.runs, sinceMs, limitMs, ...(state.lastOk !== undefined && { lastRunOk: state.lastOk }) };
}

async function serveLiveness(address: ListenAddress, check: () => Liveness): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? "").split("?")[0];
    if (path !== "/healthz") return answer(response, 404, { error: "not found: the only path is /healthz" });
    if (request.method !== "GET" && request.method !== "HEAD") return answer(response, 405, { error: "method not allowed: GET or HEAD" });
    const status = check();
    answer(response, status.live ? 200 : 503, status);
  });
  server.requestTimeout = LIVENESS_REQUEST_TIMEOUT_MS;
  server.headersTimeout = LIVENESS_REQUEST_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: address.host, port: address.port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server;
}

function answer(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  response.end(JSON.stringify(body));
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** `--every`: "30s", "1m", "1m30s", "2h": whole seconds from 1 s to 24 h, as syncIntervalSeconds allows. */
export function parseEvery(value: string): number | string {
  const match = /^(?:(\d{1,5})h)?(?:(\d{1,5})m)?(?:(\d{1,5})s)?$/.exec(value);
  const seconds = match && value !== "" ? Number(match[1] ?? 0) * 3600 + Number(match[2] ?? 0) * 60 + Number(match[3] ?? 0) : undefined;
  if (seconds === undefined || seconds < 1 || seconds > 86_400) {
    return `--every: expected a duration of whole seconds from 1s to 24h, such as 30s, 1m or 1m30s, got ${JSON.stringify(value)}`;
  }
  return seconds;
}

/** `--health-addr`: "[HOST]:PORT", as ":8080", "127.0.0.1:8080" or "[::1]:8080". */
export function parseListenAddress(value: string): ListenAddress | string {
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]*)):(\d{1,5})$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || port > 65_535) return `--health-addr: expected [HOST]:PORT, such as :8080 or 127.0.0.1:8080, got ${JSON.stringify(value)}`;
  const host = match[1] ?? match[2];
  return host ? { host, port } : { port };
}
