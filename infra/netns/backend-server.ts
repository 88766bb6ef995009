// Test backends for one network namespace, all in one process so thousands of listeners stay cheap.
// Reads newline-delimited JSON commands on stdin and answers each with one JSON line on stdout:
//   {"id":1,"op":"listen","address":"198.18.5.2","port":8080,"kind":"http","status":200,"body":"ok"}
//   {"id":2,"op":"setStatus","address":"198.18.5.2","port":8080,"status":503}
//   {"id":3,"op":"close","address":"198.18.5.2","port":8080}
//   {"id":4,"op":"ping"}
// Replies: {"id":1,"ok":true} or {"id":1,"ok":false,"error":"..."}. Exits when stdin closes.
import { STATUS_CODES } from "node:http";
import net from "node:net";
import readline from "node:readline";

export type BackendRequest =
  | { op: "ping" }
  | { op: "listen"; address: string; port: number; kind?: "http" | "tcp"; status?: number; body?: string }
  | { op: "close"; address: string; port: number }
  | { op: "setStatus"; address: string; port: number; status: number };

export type BackendCommand = BackendRequest & { id: number };

export interface BackendReply {
  id: number;
  ok: boolean;
  error?: string;
}

interface Listener {
  server: net.Server;
  kind: "http" | "tcp";
  status: number;
  body: string;
}

const END_OF_HEADERS = "\r\n\r\n";
const listeners = new Map<string, Listener>();

function listenerKey(address: string, port: number): string {
  return `${address}|${port}`;
}

// A hand-written HTTP answer costs far less than node:http per connection, which matters when
// one process serves a fleet of thousands of probed backends.
function answerHttp(socket: net.Socket, listener: Listener): void {
  let received = "";
  socket.setEncoding("latin1");
  socket.on("data", (chunk: string) => {
    received += chunk;
    if (!received.includes(END_OF_HEADERS)) return;
    socket.removeAllListeners("data");
    const body = Buffer.from(listener.body);
    const reason = STATUS_CODES[listener.status] ?? "Status";
    socket.write(
      `HTTP/1.1 ${listener.status} ${reason}\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
    );
    socket.end(body);
  });
}

function onConnection(listener: Listener, socket: net.Socket): void {
  // Probes that give up early reset their connections; that is not a server failure.
  socket.on("error", () => socket.destroy());
  if (listener.kind === "tcp") socket.end();
  else answerHttp(socket, listener);
}

async function listen(command: Extract<BackendRequest, { op: "listen" }>): Promise<void> {
  const key = listenerKey(command.address, command.port);
  if (listeners.has(key)) throw new Error(`already listening on ${key}`);
  const server = net.createServer();
  const listener: Listener = {
    server,
    kind: command.kind ?? "http",
    status: command.status ?? 200,
    body: command.body ?? "ok",
  };
  server.on("connection", (socket) => onConnection(listener, socket));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: command.address, port: command.port, backlog: 4096 }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  listeners.set(key, listener);
}

function close(command: Extract<BackendRequest, { op: "close" }>): void {
  const key = listenerKey(command.address, command.port);
  const listener = listeners.get(key);
  if (!listener) throw new Error(`not listening on ${key}`);
  listeners.delete(key);
  // The listening socket closes at once, so new connections are refused; open ones finish on their own
  // (waiting for them could block on a client that never sends a request).
  listener.server.close();
}

function setStatus(command: Extract<BackendRequest, { op: "setStatus" }>): void {
  const key = listenerKey(command.address, command.port);
  const listener = listeners.get(key);
  if (!listener) throw new Error(`not listening on ${key}`);
  listener.status = command.status;
}

async function run(command: BackendRequest): Promise<void> {
  switch (command.op) {
    case "ping":
      return;
    case "listen":
      return listen(command);
    case "close":
      return close(command);
    case "setStatus":
      return setStatus(command);
    default:
      throw new Error(`unknown op ${JSON.stringify((command as { op: unknown }).op)}`);
  }
}

function reply(message: BackendReply): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

const commands = readline.createInterface({ input: process.stdin });
commands.on("line", (line) => {
  if (line.trim() === "") return;
  let command: BackendCommand;
  try {
    command = JSON.parse(line) as BackendCommand;
  } catch {
    reply({ id: -1, ok: false, error: `not JSON: ${line}` });
    return;
  }
  run(command).then(
    () => reply({ id: command.id, ok: true }),
    (error: unknown) => reply({ id: command.id, ok: false, error: error instanceof Error ? error.message : String(error) }),
  );
});
// The parent owns this process: when it goes away, so do the backends.
commands.on("close", () => process.exit(0));
