import { readFile } from "node:fs/promises";
import { createSecureContext, type ConnectionOptions, type SecureContext } from "node:tls";

/** The TLS options a check's config may carry (tls, https, etcd, and grpc's `tls`). */
export interface TlsConfig {
  caFile?: string;
  caPem?: string;
  certFile?: string;
  certPem?: string;
  keyFile?: string;
  keyPem?: string;
  serverName?: string;
  insecureSkipVerify: boolean;
}

/** The PEM a check presents and trusts, read each time a target's check is built (every run and round), so rotated files are picked up. */
export interface TlsMaterial {
  ca?: string;
  cert?: string;
  key?: string;
  /** Made once: parsing a CA bundle for each of thousands of connections would cost more than the probes. */
  context: SecureContext;
  serverName?: string;
  insecureSkipVerify: boolean;
}

/** A CA, certificate or key that cannot be used: the target fails rather than every backend. */
export class TlsMaterialError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TlsMaterialError";
  }
}

/** Reads the files a check names. Messages name the field and the path, never the content: a key is a secret. */
export async function loadTlsMaterial(config: TlsConfig, where: string): Promise<TlsMaterial> {
  const read = async (field: string, file: string | undefined, inline: string | undefined) => {
    if (file === undefined) return inline;
    try {
      return await readFile(file, "utf8");
    } catch (error) {
      throw new TlsMaterialError(`${where}.${field}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? "error"})`);
    }
  };
  const ca = await read("caFile", config.caFile, config.caPem);
  const cert = await read("certFile", config.certFile, config.certPem);
  const key = await read("keyFile", config.keyFile, config.keyPem);
  let context: SecureContext;
  try {
    // Fails here, once, on a bad CA or a key that does not fit its certificate, instead of in every probe.
    context = createSecureContext({ ca, cert, key });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new TlsMaterialError(`${where}: the CA, certificate or key cannot be used (${code})`);
  }
  return { ca, cert, key, context, serverName: config.serverName, insecureSkipVerify: config.insecureSkipVerify };
}

/** node:tls options for one connection. */
export function tlsConnectionOptions(material: TlsMaterial): ConnectionOptions {
  return { secureContext: material.context, servername: material.serverName, rejectUnauthorized: !material.insecureSkipVerify };
}
