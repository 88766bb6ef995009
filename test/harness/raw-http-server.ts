// An HTTP "server" that answers with exact bytes, written piece by piece on a real TCP socket: for testing
// what a client makes of answers real servers send (split at awkward places, 1xx first, no body, garbage).
import { once } from "node:events";
import { createServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TlsOptions } from "node:tls";

/** One step of an answer: bytes to write (strings as latin1), a pause, or (last) silence with the connection open. */
export type Step = string | Buffer | { pauseMs: number } | "stall";

/** What one connection saw. */
export interface Exchange {
  /** The request's head, as received. */
  request: string;
  /** Bytes the kernel took from the server before the client hung up or the answer ended. */
  bytesWritten: number;
}

export interface RawHttpServer {
  port: number;
  /** The exchanges of every request for this path so far, settled once the answer ended or the client hung up. */
  exchanges(path: string): Promise<Exchange[]>;
  stop(): Promise<void>;
}

/**
 * Answers a request with the steps given for its path (with its query), on 127.0.0.1, over TLS if given its
 * options. Every write goes out at once (no Nagle; over TLS, as a record of its own), so a pause between two
 * writes makes the client read them separately. After the last step the server closes its side, unless that
 * step is "stall"; it stops early when the client hangs up.
 */
export async function startRawHttpServer(answers: Record<string, Step[]>, tls?: TlsOptions): Promise<RawHttpServer> {
  const sockets = new Set<Socket>();
  const seen = new Map<string, Promise<Exchange>[]>();
  const onConnection = (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.setNoDelay(true);
    // Probes reset connections they are done with; that ends an answer, it is no server failure.
    socket.on("error", () => socket.destroy());
    let received = "";
    const onData = (chunk: Buffer) => {
      received += chunk.toString("latin1");
      const end = received.indexOf("\r\n\r\n");
      if (end < 0) return;
      socket.off("data", onData);
      socket.resume();
      const request = received.slice(0, end);
      const path = request.split(" ")[1] ?? "";
      const steps = answers[path] ?? ["HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"];
      const exchanges = seen.get(path) ?? [];
      exchanges.push(play(socket, steps).then((bytesWritten) => ({ request, bytesWritten })));
      seen.set(path, exchanges);
    };
    socket.on("data", onData);
  };
  const server = tls ? createTlsServer(tls, onConnection) : createServer(onConnection);
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    port: (server.address() as { port: number }).port,
    exchanges: (path) => Promise.all(seen.get(path) ?? []),
    async stop() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, "close");
    },
  };
}

/** Writes the steps in order; resolves with the bytes the kernel took once done or once the client hung up. */
async function play(socket: Socket, steps: Step[]): Promise<number> {
  let bytesWritten = 0;
  for (const step of steps) {
    if (socket.destroyed) break;
    if (step === "stall") return bytesWritten;
    if (typeof step === "object" && "pauseMs" in step) {
      await new Promise((resolve) => setTimeout(resolve, step.pauseMs));
      continue;
    }
    const bytes = typeof step === "string" ? Buffer.from(step, "latin1") : step;
    const taken = await new Promise<boolean>((resolve) => socket.write(bytes, (error) => resolve(!error)));
    if (!taken) break;
    bytesWritten += bytes.length;
  }
  if (!socket.destroyed) socket.end();
  return bytesWritten;
}
