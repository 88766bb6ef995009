// Real test hosts: a network namespace joined to the host by a veth pair. Addresses added to the
// namespace are reachable from the host, backends listen on them, and an nftables drop rule can black-hole them.
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { BlockList, isIPv4, isIPv6, type Socket } from "node:net";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import type { BackendReply, BackendRequest } from "./backend-server.ts";

export interface TestNetwork {
  name: string;
  hostAddress: string;
  hostAddress6: string;
  addAddresses(addresses: string[]): Promise<void>;
  blackhole(addresses: string[]): Promise<void>;
  unblackhole(addresses: string[]): Promise<void>;
  startBackends(): Promise<BackendFleet>;
  destroy(): Promise<void>;
}

export interface BackendFleet {
  listen(address: string, port: number, options?: { kind?: "http" | "tcp"; status?: number; body?: string }): Promise<void>;
  close(address: string, port: number): Promise<void>;
  setStatus(address: string, port: number, status: number): Promise<void>;
  stop(): Promise<void>;
}

const BACKEND_SERVER = fileURLToPath(new URL("./backend-server.ts", import.meta.url));
const LINUX_INTERFACE_NAME_MAX = 15;
const BACKEND_STOP_GRACE_MS = 5_000;

// Backends must not outlive the test process, even when it forgets to stop them.
const liveBackendProcesses = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of liveBackendProcesses) child.kill("SIGKILL");
});

/** The test-host space: a network's extra ranges must lie in it (RFC 2544's benchmarking block). */
const BENCHMARK_BLOCK: [string, number] = ["198.18.0.0", 15];
/** RFC 1918: where a shipped example's addresses (10.0.0.11) lie. */
const PRIVATE_BLOCKS: [string, number][] = [["10.0.0.0", 8], ["172.16.0.0", 12], ["192.168.0.0", 16]];

/**
 * `extraRanges`: more IPv4 ranges ("198.19.40.0/24") routed into the namespace beside its own /24, for fleets
 * larger than one /24 holds. Each must lie in 198.18.0.0/15.
 * `privateAddresses`: single private IPv4 addresses a test must use as a shipped config names them, each routed
 * into the namespace as a /32: only those addresses leave the host's other routes, and only while it exists.
 */
export async function createTestNetwork(options: { name: string; subnetIndex: number; extraRanges?: string[]; privateAddresses?: string[] }): Promise<TestNetwork> {
  const { name, subnetIndex } = options;
  const extraRanges = options.extraRanges ?? [];
  const privateAddresses = options.privateAddresses ?? [];
  if (!Number.isInteger(subnetIndex) || subnetIndex < 0 || subnetIndex > 255) {
    throw new Error(`subnetIndex must be an integer in 0..255, got ${subnetIndex}`);
  }
  const hostVeth = `${name}-h`;
  const namespaceVeth = `${name}-n`;
  if (hostVeth.length > LINUX_INTERFACE_NAME_MAX) {
    throw new Error(`network name "${name}" is too long: at most ${LINUX_INTERFACE_NAME_MAX - 2} characters, so its veth names fit`);
  }
  const subnet4 = `198.18.${subnetIndex}.0`;
  const subnet6 = `fd00:198:18:${subnetIndex}::`;
  const hostAddress = `198.18.${subnetIndex}.1`;
  const hostAddress6 = `${subnet6}1`;
  const subnets = new BlockList();
  subnets.addSubnet(subnet4, 24, "ipv4");
  subnets.addSubnet(subnet6, 64, "ipv6");
  const benchmarkBlock = new BlockList();
  benchmarkBlock.addSubnet(BENCHMARK_BLOCK[0], BENCHMARK_BLOCK[1], "ipv4");
  for (const range of extraRanges) {
    const [network, prefix] = range.split("/");
    if (!network || !isIPv4(network) || !benchmarkBlock.check(network, "ipv4") || !(Number(prefix) >= BENCHMARK_BLOCK[1] && Number(prefix) <= 32)) {
      throw new Error(`extra range ${range} of test network ${name} must be an IPv4 CIDR inside ${BENCHMARK_BLOCK.join("/")}`);
    }
    subnets.addSubnet(network, Number(prefix), "ipv4");
  }
  const privateBlocks = new BlockList();
  for (const [network, prefix] of PRIVATE_BLOCKS) privateBlocks.addSubnet(network, prefix, "ipv4");
  for (const address of privateAddresses) {
    if (!isIPv4(address) || !privateBlocks.check(address, "ipv4")) {
      throw new Error(`private address ${address} of test network ${name} must be an IPv4 address in ${PRIVATE_BLOCKS.map((block) => block.join("/")).join(", ")}`);
    }
    subnets.addAddress(address, "ipv4");
  }

  await removeNetwork(name, hostVeth);
  try {
    await ip(["netns", "add", name]);
    await ip(["link", "add", hostVeth, "type", "veth", "peer", "name", namespaceVeth, "netns", name]);
    // Writing "all" reaches lo and the veth too; it matters where IPv6 is switched off by default.
    await ip(["netns", "exec", name, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=0"]);
    const hostMac = await macAddress(hostVeth);
    const namespaceMac = await macAddress(namespaceVeth, name);
    // The connected /24 and /64 on the host veth are the host's routes into the namespace.
    await ipBatch(null, [
      `addr add ${hostAddress}/24 dev ${hostVeth}`,
      `addr add ${hostAddress6}/64 dev ${hostVeth} nodad`,
      `link set ${hostVeth} up`,
      ...extraRanges.map((range) => `route add ${range} dev ${hostVeth}`),
      ...privateAddresses.map((address) => `route add ${address}/32 dev ${hostVeth}`),
    ]);
    // Namespace addresses live on lo as /32 and /128 (see addAddresses); replies leave by one default
    // route over the veth. Permanent neighbours mean no ARP or neighbour discovery is ever waited for.
    await ipBatch(name, [
      `link set lo up`,
      `link set ${namespaceVeth} up`,
      `route add default dev ${namespaceVeth}`,
      `route add ::/0 dev ${namespaceVeth}`,
      `neigh replace ${hostAddress} lladdr ${hostMac} dev ${namespaceVeth} nud permanent`,
      `neigh replace ${hostAddress6} lladdr ${hostMac} dev ${namespaceVeth} nud permanent`,
    ]);

    const blackholed = new Set<string>();
    let dropTable: Promise<void> | undefined;
    const changeDropped = async (action: "add" | "delete", addresses: string[]) => {
      dropTable ??= makeDropTable(name);
      await dropTable;
      await changeDropSets(name, action, addresses);
    };
    const fleets = new Set<BackendFleet>();
    let destroyed: Promise<void> | undefined;

    const checkInSubnet = (addresses: string[]): void => {
      for (const address of addresses) {
        const family = isIPv4(address) ? "ipv4" : isIPv6(address) ? "ipv6" : undefined;
        if (!family || !subnets.check(address, family)) {
          throw new Error(`${address} is not in ${[`${subnet4}/24`, `${subnet6}/64`, ...extraRanges, ...privateAddresses].join(", ")} of test network ${name}`);
        }
        if (address === hostAddress || address === hostAddress6 || address === `198.18.${subnetIndex}.255`) {
          throw new Error(`${address} is reserved in test network ${name} (host side or broadcast)`);
        }
      }
    };

    return {
      name,
      hostAddress,
      hostAddress6,
      async addAddresses(addresses) {
        checkInSubnet(addresses);
        if (addresses.length === 0) return;
        await Promise.all([
          ipBatch(
            name,
            // On lo, not the veth: each IPv6 address on a multicast device joins groups and costs more
            // than the last (4,000 took 14 s on the veth, 0.15 s on lo).
            addresses.map((address) => (isIPv4(address) ? `addr replace ${address}/32 dev lo` : `addr replace ${address}/128 dev lo nodad`)),
          ),
          // The kernel's neighbour table overflows past about 1,024 dynamic entries; permanent ones are kept.
          ipBatch(
            null,
            addresses.map((address) => `neigh replace ${address} lladdr ${namespaceMac} dev ${hostVeth} nud permanent`),
          ),
        ]);
      },
      async blackhole(addresses) {
        checkInSubnet(addresses);
        const added = [...new Set(addresses)].filter((address) => !blackholed.has(address));
        await changeDropped("add", added);
        for (const address of added) blackholed.add(address);
      },
      async unblackhole(addresses) {
        const removed = [...new Set(addresses)].filter((address) => blackholed.has(address));
        await changeDropped("delete", removed);
        for (const address of removed) blackholed.delete(address);
      },
      async startBackends() {
        const fleet = await startBackendFleet(name);
        fleets.add(fleet);
        return fleet;
      },
      destroy() {
        destroyed ??= (async () => {
          await Promise.all([...fleets].map((fleet) => fleet.stop()));
          await removeNetwork(name, hostVeth);
        })();
        return destroyed;
      },
    };
  } catch (error) {
    await removeNetwork(name, hostVeth);
    throw error;
  }
}

// Also clears what a crashed run left behind: processes still in the namespace keep it alive.
async function removeNetwork(name: string, hostVeth: string): Promise<void> {
  const pids = await ip(["netns", "pids", name]).then(
    (output) => output.split(/\s+/).filter(Boolean).map(Number),
    () => [],
  );
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  // Deleting one end of a veth pair deletes both ends and the routes through them.
  await ip(["link", "del", hostVeth]).catch(ignoreIf(/Cannot find device/));
  await ip(["netns", "del", name]).catch(ignoreIf(/No such file or directory/));
}

function ignoreIf(absentPattern: RegExp): (error: Error) => void {
  return (error) => {
    if (!absentPattern.test(error.message)) throw error;
  };
}

async function macAddress(device: string, namespace?: string): Promise<string> {
  const args = namespace ? ["-n", namespace] : [];
  const [link] = JSON.parse(await ip([...args, "-j", "link", "show", "dev", device])) as { address: string }[];
  if (!link) throw new Error(`no link ${device}`);
  return link.address;
}

function ip(args: string[], input?: string): Promise<string> {
  return run("ip", args, input);
}

function ipBatch(namespace: string | null, commands: string[]): Promise<string> {
  const args = namespace ? ["-n", namespace, "-batch", "-"] : ["-batch", "-"];
  return ip(args, `${commands.join("\n")}\n`);
}

/**
 * One drop rule per family matching a set of addresses: a set lookup costs the same for 1 address or 1,000,
 * where a rule per address would make every packet into the namespace walk them all (in the kernel, on the
 * CPU of whichever process sent it, which in a benchmark is the checker being measured).
 */
async function makeDropTable(namespace: string): Promise<void> {
  const table = `table inet ees-blackhole {
  set dark4 { type ipv4_addr; }
  set dark6 { type ipv6_addr; }
  chain input { type filter hook input priority filter; ip daddr @dark4 drop; ip6 daddr @dark6 drop; }
}
`;
  await ip(["netns", "exec", namespace, await nft(), "-f", "-"], table);
}

async function changeDropSets(namespace: string, action: "add" | "delete", addresses: string[]): Promise<void> {
  const elements = (set: string, family: (address: string) => boolean) => {
    const members = addresses.filter(family);
    return members.length ? [`${action} element inet ees-blackhole ${set} { ${members.join(", ")} }`] : [];
  };
  const script = [...elements("dark4", isIPv4), ...elements("dark6", isIPv6)];
  if (script.length > 0) await ip(["netns", "exec", namespace, await nft(), "-f", "-"], `${script.join("\n")}\n`);
}

let nftPath: Promise<string> | undefined;

function nft(): Promise<string> {
  nftPath ??= (async () => {
    for (const directory of (process.env.PATH ?? "").split(path.delimiter).concat("/usr/sbin", "/sbin")) {
      const candidate = path.join(directory, "nft");
      if (await access(candidate, constants.X_OK).then(() => true, () => false)) return candidate;
    }
    throw new Error(`nft not found: install it with "apt-get install -y nftables"`);
  })();
  return nftPath;
}

function run(command: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(" ")} failed: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

async function startBackendFleet(namespace: string): Promise<BackendFleet> {
  // setpriv's parent-death signal kills the backends even if this process is SIGKILLed.
  const child = spawn(
    "setpriv",
    ["--pdeathsig", "KILL", "ip", "netns", "exec", namespace, process.execPath, BACKEND_SERVER],
    { stdio: ["pipe", "pipe", "pipe"] },
  );
  liveBackendProcesses.add(child);
  let exitReason: string | undefined;
  let stderrTail = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk: string) => {
    stderrTail = (stderrTail + chunk).slice(-4_000);
  });
  // Writing to a server that died fails with EPIPE; the death itself is reported below.
  child.stdin.on("error", () => {});

  // Only a command awaiting its reply keeps the event loop alive, so a test that forgets stop() still ends.
  const replies = child.stdout as unknown as Socket;
  const pending = new Map<number, { resolve: () => void; reject: (error: Error) => void }>();
  child.unref();
  for (const pipe of [child.stdin, child.stdout, child.stderr]) (pipe as unknown as Socket).unref();

  readline.createInterface({ input: child.stdout }).on("line", (line) => {
    const reply = JSON.parse(line) as BackendReply;
    const waiter = pending.get(reply.id);
    if (!waiter) return;
    pending.delete(reply.id);
    if (pending.size === 0) replies.unref();
    if (reply.ok) waiter.resolve();
    else waiter.reject(new Error(`backend server: ${reply.error}`));
  });

  // "close" comes after the last reply has been read; a failed spawn emits only "error".
  const exited = new Promise<void>((resolve) => {
    child.once("close", () => resolve());
    child.once("error", (error) => {
      stderrTail = error.message;
      resolve();
    });
  }).then(() => {
    liveBackendProcesses.delete(child);
    exitReason = `exited (code ${child.exitCode}, signal ${child.signalCode})${stderrTail.trim() ? `: ${stderrTail.trim()}` : ""}`;
    const error = new Error(`backend server in ${namespace} ${exitReason}`);
    for (const waiter of pending.values()) waiter.reject(error);
    pending.clear();
  });

  let nextId = 1;
  const send = (command: BackendRequest): Promise<void> => {
    if (exitReason) return Promise.reject(new Error(`backend server in ${namespace} ${exitReason}`));
    const id = nextId++;
    return new Promise((resolve, reject) => {
      if (pending.size === 0) replies.ref();
      pending.set(id, { resolve, reject });
      child.stdin.write(`${JSON.stringify({ ...command, id })}\n`);
    });
  };

  let stopped: Promise<void> | undefined;
  const fleet: BackendFleet = {
    listen: (address, port, options = {}) => send({ op: "listen", address, port, ...options }),
    close: (address, port) => send({ op: "close", address, port }),
    setStatus: (address, port, status) => send({ op: "setStatus", address, port, status }),
    stop() {
      stopped ??= (async () => {
        child.ref();
        child.stdin.end();
        const killTimer = setTimeout(() => child.kill("SIGKILL"), BACKEND_STOP_GRACE_MS);
        await exited;
        clearTimeout(killTimer);
      })();
      return stopped;
    },
  };
  // A round trip proves the server runs inside the namespace before anyone relies on it.
  await send({ op: "ping" });
  return fleet;
}
