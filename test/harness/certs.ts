// Test PKI made with openssl: a CA, server certificates naming their IP addresses, a client certificate.
import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface CertPair {
  certFile: string;
  keyFile: string;
}

export interface TestCa {
  caFile: string;
  /** A certificate signed by this CA for `ips` (and `dnsNames`), usable by servers and clients alike. */
  issue(name: string, options: { ips?: string[]; dnsNames?: string[] }): Promise<CertPair>;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run("openssl", args);
  } catch (error) {
    throw new Error(`openssl ${args.slice(0, 2).join(" ")} failed: ${(error as { stderr?: string }).stderr ?? String(error)}`);
  }
}

/** A fresh CA in `dir`, named `name` (also the prefix of its files). */
export async function createTestCa(dir: string, name: string): Promise<TestCa> {
  const at = (file: string) => path.join(dir, `${name}-${file}`);
  const [caFile, caKey] = [at("ca.crt"), at("ca.key")];
  const ecKey = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(["req", "-x509", ...ecKey, "-keyout", caKey, "-out", caFile, "-subj", `/CN=${name} test CA`, "-days", "2"]);
  return {
    caFile,
    async issue(leaf, { ips = [], dnsNames = [] }) {
      const [certFile, keyFile, csr, extensions] = [at(`${leaf}.crt`), at(`${leaf}.key`), at(`${leaf}.csr`), at(`${leaf}.ext`)];
      const names = [...ips.map((ip) => `IP:${ip}`), ...dnsNames.map((dns) => `DNS:${dns}`)];
      await writeFile(extensions, `${names.length > 0 ? `subjectAltName=${names.join(",")}\n` : ""}extendedKeyUsage=serverAuth,clientAuth\n`);
      await openssl(["req", ...ecKey, "-keyout", keyFile, "-out", csr, "-subj", `/CN=${leaf}`]);
      await openssl(["x509", "-req", "-in", csr, "-CA", caFile, "-CAkey", caKey, "-CAcreateserial", "-out", certFile, "-days", "2", "-extfile", extensions]);
      return { certFile, keyFile };
    },
  };
}
