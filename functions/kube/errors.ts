import { ApiException } from "./client-node.ts";

/** An API call that failed, named by what it did to which object. */
export class KubeApiError extends Error {
  readonly status: number | undefined;
  constructor(action: string, cause: unknown) {
    const status = cause instanceof ApiException ? cause.code : undefined;
    super(`${action}: ${status ? `HTTP ${status} ${statusMessage(cause as ApiException<unknown>)}` : transportMessage(cause)}`, { cause });
    this.name = "KubeApiError";
    this.status = status;
  }
}

/** Why no answer came: fetch hides the socket error (ECONNREFUSED...) in its cause. */
function transportMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  if (error.name === "TimeoutError") return "no answer from the API server in time";
  const cause = error.cause as (NodeJS.ErrnoException & { address?: string; port?: number }) | undefined;
  return cause?.code ? `${error.message} (${cause.code}${cause.address ? ` ${cause.address}:${cause.port}` : ""})` : error.message;
}

/** The Status message the API server sent, without the response headers client-node puts in its message. */
function statusMessage(error: ApiException<unknown>): string {
  const body = typeof error.body === "string" ? safeParse(error.body) : error.body;
  const message = (body as { message?: unknown } | undefined)?.message;
  return typeof message === "string" ? message : "";
}

function safeParse(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export const statusOf = (error: unknown) => (error instanceof ApiException ? error.code : undefined);

/** Calls the API, turning 404 into undefined. */
export async function readOptional<T>(action: string, call: () => Promise<T>): Promise<T | undefined> {
  try {
    return await call();
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw new KubeApiError(action, error);
  }
}
