import { ApiException } from "@kubernetes/client-node";

/** An API call that failed, named by what it did to which object. */
export class KubeApiError extends Error {
  readonly status: number | undefined;
  constructor(action: string, cause: unknown) {
    const status = cause instanceof ApiException ? cause.code : undefined;
    super(`${action}: ${status ? `HTTP ${status} ${statusMessage(cause as ApiException<unknown>)}` : cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "KubeApiError";
    this.status = status;
  }
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
