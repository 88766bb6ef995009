// A real etcd cluster inside a test network namespace: one member per address, clients over TLS with
// client-certificate auth (the way an API server talks to its etcd), peers over plain HTTP.
import { mkdir, readFile, rm } from "node:fs/promises";
import https from "node:https";
import path from "node:path";
import { ensureControlPlaneBinaries } from "../../infra/control-plane/local-cluster.ts";
import type { TestNetwork } from "../../infra/netns/test-network.ts";
import { createTestCa, type CertPair, type TestCa } from "./certs.ts";
import { spawnInNamespace, type NamespaceProcess } from "./netns-process.ts";

export const ETCD_CLIENT_PORT = 2379;
const PEER_PORT = 2380;
const READY_TIMEOUT_MS = 30_000;

export interface EtcdMember {
  name: string;
  address: string;
}

export interface EtcdCluster {
  members: EtcdMember[];
  ca: TestCa;
  /** The client certificate etcd requires. */
  client: CertPair;
  stopMember(name: string): Promise<void>;
  startMember(name: string): Promise<void>;
  /** Whether the member itself says it is healthy (its /health over mTLS). */
  memberHealth(name: string): Promise<{ health?: string; reason?: string } | undefined>;
  destroy(): Promise<void>;
}

/**
 * `build`: the control plane's own etcd, or the last one without /readyz (v3.5.10, infra/control-plane/build.sh).
 * `token`: the cluster's initial token, different for clusters that share a network.
 */
export async function startEtcdCluster(
  network: TestNetwork,
  addresses: string[],
  dir: string,
  { build = "etcd", token = "ees-hc-etcd" }: { build?: "etcd" | "etcd-without-readyz"; token?: string } = {},
): Promise<EtcdCluster> {
  const binary = path.join(await ensureControlPlaneBinaries(), build);
  await mkdir(dir, { recursive: true });
  const members = addresses.map((address, index) => ({ name: `m${index + 1}`, address }));
  const ca = await createTestCa(dir, "etcd");
  const client = await ca.issue("client", {});
  const serving = new Map<string, CertPair>();
  for (const member of members) serving.set(member.name, await ca.issue(member.name, { ips: [member.address] }));
  const initialCluster = members.map((member) => `${member.name}=http://${member.address}:${PEER_PORT}`).join(",");
  const processes = new Map<string, NamespaceProcess>();
  const [caPem, clientCert, clientKey] = await Promise.all([readFile(ca.caFile), readFile(client.certFile), readFile(client.keyFile)]);

  const start = (member: EtcdMember) => {
    const pair = serving.get(member.name)!;
    const clientUrl = `https://${member.address}:${ETCD_CLIENT_PORT}`;
    const peerUrl = `http://${member.address}:${PEER_PORT}`;
    processes.set(
      member.name,
      spawnInNamespace(network.name, binary, [
        `--name=${member.name}`,
        `--data-dir=${path.join(dir, `${member.name}.etcd`)}`,
        `--listen-client-urls=${clientUrl}`,
        `--advertise-client-urls=${clientUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=${initialCluster}`,
        `--initial-cluster-token=${token}`,
        "--client-cert-auth",
        `--trusted-ca-file=${ca.caFile}`,
        `--cert-file=${pair.certFile}`,
        `--key-file=${pair.keyFile}`,
        // Throwaway data: durability only slows the tests down.
        "--unsafe-no-fsync",
      ], path.join(dir, `${member.name}.log`)),
    );
  };

  const memberHealth = (name: string) => {
    const member = members.find((candidate) => candidate.name === name)!;
    return new Promise<{ health?: string; reason?: string } | undefined>((resolve) => {
      const request = https.get(
        { host: member.address, port: ETCD_CLIENT_PORT, path: "/health", ca: caPem, cert: clientCert, key: clientKey, agent: false, timeout: 2000 },
        (response) => {
          let body = "";
          response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
          response.on("end", () => resolve(JSON.parse(body) as { health?: string; reason?: string }));
        },
      );
      request.on("timeout", () => request.destroy());
      request.on("error", () => resolve(undefined));
    });
  };

  const waitHealthy = async (names: string[]) => {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      const health = await Promise.all(names.map(memberHealth));
      if (health.every((answer) => answer?.health === "true")) return;
      if (Date.now() > deadline) throw new Error(`etcd members ${names.join(", ")} not healthy within ${READY_TIMEOUT_MS} ms (logs in ${dir})`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  };

  for (const member of members) start(member);
  const stopAll = () => Promise.all([...processes.values()].map((process) => process.stop()));
  try {
    await waitHealthy(members.map((member) => member.name));
  } catch (error) {
    await stopAll();
    throw error;
  }
  return {
    members,
    ca,
    client,
    memberHealth,
    stopMember: (name) => processes.get(name)!.stop(),
    async startMember(name) {
      start(members.find((member) => member.name === name)!);
      await waitHealthy([name]);
    },
    async destroy() {
      await stopAll();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
