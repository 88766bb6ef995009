// A gRPC server with the standard health service (grpc.health.v1.Health/Check), run inside a test
// network namespace. Started as a script, it listens and takes commands on stdin, one JSON line each:
//   {"service":"","status":"NOT_SERVING"}   answered by "ok"
// Imported, startGrpcHealthServer() runs it in a namespace and returns a handle to toggle it.
import { once } from "node:events";
import { readFile } from "node:fs/promises";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import type { HealthCheckRequest, ServingStatus } from "../../functions/health/grpc-health-codec.ts";
import type { CertPair } from "./certs.ts";
import { spawnInNamespace } from "./netns-process.ts";

export interface GrpcHealthServer {
  setStatus(service: string, status: ServingStatus): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The server at `address:port` in `namespace`, over TLS when given a certificate. Services "" (the server as
 * a whole) and "db" start SERVING; any other is unknown.
 */
export async function startGrpcHealthServer(namespace: string, address: string, port: number, logDir: string, tls?: CertPair): Promise<GrpcHealthServer> {
  const script = fileURLToPath(import.meta.url);
  const args = [script, address, String(port), ...(tls ? [tls.certFile, tls.keyFile] : [])];
  const server = spawnInNamespace(namespace, process.execPath, args, path.join(logDir, `grpc-${address}-${port}.log`), "pipe");
  const replies = readline.createInterface({ input: server.child.stdout! });
  const nextReply = async () => {
    const [line] = (await once(replies, "line")) as [string];
    if (line !== "ok") throw new Error(`gRPC health server at ${address}:${port}: ${line}`);
  };
  // The first line says it listens (or why not).
  await nextReply();
  return {
    async setStatus(service, status) {
      const reply = nextReply();
      server.child.stdin!.write(`${JSON.stringify({ service, status })}\n`);
      await reply;
    },
    stop: () => server.stop(),
  };
}

async function serve(address: string, port: number, certFile?: string, keyFile?: string): Promise<void> {
  const grpc = await import("@grpc/grpc-js");
  const codec = await import("../../functions/health/grpc-health-codec.ts");
  const statuses = new Map<string, ServingStatus>([["", "SERVING"], ["db", "SERVING"]]);
  const server = new grpc.Server();
  server.addService(
    {
      Check: {
        path: codec.HEALTH_CHECK_METHOD,
        requestStream: false,
        responseStream: false,
        requestSerialize: codec.encodeHealthCheckRequest,
        requestDeserialize: codec.decodeHealthCheckRequest,
        responseSerialize: codec.encodeHealthCheckResponse,
        responseDeserialize: codec.decodeHealthCheckResponse,
      },
    },
    {
      Check: (call: { request: HealthCheckRequest }, callback: (error: { code: number; details: string } | null, status?: ServingStatus) => void) => {
        const status = statuses.get(call.request.service);
        // As the health protocol says: an unknown service is NOT_FOUND.
        if (status === undefined) callback({ code: grpc.status.NOT_FOUND, details: `unknown service ${call.request.service}` });
        else callback(null, status);
      },
    },
  );
  const credentials =
    certFile && keyFile
      ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: await readFile(certFile), private_key: await readFile(keyFile) }])
      : grpc.ServerCredentials.createInsecure();
  await new Promise<void>((resolve, reject) => server.bindAsync(`${address}:${port}`, credentials, (error) => (error ? reject(error) : resolve())));
  console.log("ok");
  readline.createInterface({ input: process.stdin }).on("line", (line) => {
    const { service, status } = JSON.parse(line) as { service: string; status: ServingStatus };
    statuses.set(service, status);
    console.log("ok");
  });
  process.stdin.on("end", () => server.forceShutdown());
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [address, port, certFile, keyFile] = process.argv.slice(2);
  serve(address!, Number(port), certFile, keyFile).catch((error: unknown) => {
    console.log(error instanceof Error ? error.message : String(error));
    process.exit(1);
  });
}
