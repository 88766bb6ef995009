// The fault soak: many sync runs against a real API server behind a fault-injecting proxy, with sources that
// throttle, SERVFAIL and flap (an SRV record moving members between ports among them) and backends that flap,
// checking the safety invariants (soak-invariants.ts) after every run; then the faults stop and the runs until
// the published state matches the backends' real health are counted. Shared by test/integration/soak.test.ts
// (npm test) and test/bench/soak.bench.ts (a longer profile). Everything random comes from one seeded
// generator, so a seed replays the same schedule (timing aside).
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import {
  CreateSubnetCommand,
  CreateVpcCommand,
  EC2Client,
  RunInstancesCommand,
  StartInstancesCommand,
  StopInstancesCommand,
} from "@aws-sdk/client-ec2";
import type { V1EndpointSlice } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { createTestNetwork, type BackendFleet, type TestNetwork } from "../../infra/netns/test-network.ts";
import { runSync } from "../../functions/engine/run.ts";
import { ClusterConnections } from "../../functions/kube/client.ts";
import type { RunReport } from "../../functions/report/report.ts";
import { startAwsProxy, type AwsProxy } from "./aws-proxy.ts";
import { selectorlessService, startTestCluster, testConfig, type TestCluster } from "./cluster.ts";
import { startDnsServer, type TestDnsServer } from "./dns-server.ts";
import { KUBE_FAULT_KINDS, startKubeFaultProxy, type KubeFaultKind, type KubeFaultProxy } from "./kube-fault-proxy.ts";
import { startMoto, type Moto } from "./moto.ts";
import {
  amountOf,
  checkInvariants,
  publishedMatches,
  readState,
  SOAK_NAMESPACE,
  SOAK_OWNER,
  type ForeignObject,
  type InvariantTarget,
  type Published,
  type Violation,
} from "./soak-invariants.ts";
import { CLI } from "./cli.ts";

export interface SoakOptions {
  /** Runs with faults; the convergence runs come after. */
  runs: number;
  seed: number;
  network: { name: string; subnetIndex: number };
  /** Stalls past the 10 s request deadline, spread over the fault runs (each costs a run 10 s). */
  stalls: number;
  /** One CLI process killed mid-apply every this many runs. */
  killEvery: number;
  log?: (line: string) => void;
}

export interface SoakFigures {
  seed: number;
  faultRuns: number;
  cliRuns: number;
  kubeFaults: Record<KubeFaultKind, number>;
  /** Kill-mid-apply runs whose process ended before its chosen write (too few writes that run). */
  killsNotReached: number;
  sourceFaults: { dnsServfail: number; dnsTimeout: number; dnsAnswerChanged: number; srvPortMoved: number; awsThrottled: number; awsServerError: number; ec2StateChanged: number };
  backendFlaps: Record<BackendState, number>;
  targetLeftConfig: number;
  /** Target runs that failed, and 409s the syncer re-read and retried, over the fault runs. */
  failedTargetRuns: number;
  conflictsRetried: number;
  guardTrips: Record<string, number>;
  syncerWrites: number;
  violations: Violation[];
  convergence: { runs: number; bound: number; converged: boolean };
  /** Writes of the run after convergence: nothing changed, so 0. */
  idleRunWrites: number;
  durationSeconds: number;
}

type BackendState = "up" | "refused" | "blackholed" | "http503";

const REGION = "eu-west-1";
const RISE = 2;
const FALL = 2;
const DNS_NAME = "api.soak.internal";
const SRV_NAME = "_etcd-client._tcp.soak.internal";

interface SoakTarget extends InvariantTarget {
  service: string;
  port: { name: string; port: number };
  kind: "http" | "tcp";
  /** The ports its backends listen on: the target's, or those an SRV record may give. */
  backendPorts: number[];
  /** What a flapping backend turns into. */
  flaps: BackendState[];
  source: () => Record<string, unknown>[];
  /** What its sources give now, when they answer. */
  found: () => Published[];
}

/** mulberry32: small, fast and good enough to pick faults; seeded so a run can be replayed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** SOAK_SEED from the environment, or a fresh one; printed by the caller so a failure can be replayed. */
export function soakSeed(): number {
  const given = process.env.SOAK_SEED;
  if (given === undefined || given === "") return Math.floor(Math.random() * 2 ** 31);
  const seed = Number(given);
  if (!Number.isInteger(seed) || seed < 0) throw new Error(`SOAK_SEED must be a non-negative integer, got ${JSON.stringify(given)}`);
  return seed;
}

export async function runSoak(options: SoakOptions): Promise<SoakFigures> {
  const started = performance.now();
  const log = options.log ?? (() => {});
  const random = seededRandom(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const net = options.network.subnetIndex;
  const v4 = (host: number) => `198.18.${net}.${host}`;

  let cluster: TestCluster | undefined;
  let network: TestNetwork | undefined;
  let fleet: BackendFleet | undefined;
  let moto: Moto | undefined;
  let aws: AwsProxy | undefined;
  let dns: TestDnsServer | undefined;
  let kube: KubeFaultProxy | undefined;
  try {
    [cluster, network, moto, dns] = await Promise.all([
      startTestCluster([SOAK_NAMESPACE]),
      createTestNetwork(options.network),
      startMoto(),
      startDnsServer(),
    ]);
    aws = await startAwsProxy(moto.endpoint);
    // Its own generator: the proxy draws per request, whose count varies with timing; the schedule must not.
    kube = await startKubeFaultProxy(cluster.kubeconfig, seededRandom(options.seed ^ 0x5eed));
    fleet = await network.startBackends();
    const admin = cluster.admin;

    // Backends: web over HTTP (two of them IPv6), the others TCP.
    const webAddresses = [...[10, 11, 12, 13, 14, 15].map(v4), `fd00:198:18:${net}::10`, `fd00:198:18:${net}::11`];
    const apiPool = [21, 22, 23, 24, 25, 26, 27, 28].map(v4);
    const apiStatic = v4(20);
    const cacheAddresses = [130, 131, 132, 133, 134, 135].map(v4);
    const batchAddresses = [40, 41, 42].map(v4);

    // EC2 instances whose private addresses are test hosts: a moto VPC inside the test network.
    const ec2 = new EC2Client({ region: REGION, endpoint: moto.endpoint });
    const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: "198.18.0.0/16" }));
    const subnet = await ec2.send(new CreateSubnetCommand({ VpcId: vpc.Vpc!.VpcId, CidrBlock: `${v4(128)}/25`, AvailabilityZone: `${REGION}a` }));
    const instances: { id: string; address: string; running: boolean }[] = [];
    for (const address of cacheAddresses) {
      const reply = await ec2.send(
        new RunInstancesCommand({
          ImageId: "ami-12c6146b",
          MinCount: 1,
          MaxCount: 1,
          SubnetId: subnet.Subnet!.SubnetId,
          PrivateIpAddress: address,
          TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "role", Value: "cache" }] }],
        }),
      );
      instances.push({ id: reply.Instances![0]!.InstanceId!, address, running: true });
    }

    let dnsAnswer = apiPool.slice(0, 4);
    dns.set(DNS_NAME, { A: dnsAnswer });
    // etcd members found by SRV, each on a port of its own that moves between 2379 and 2380 now and then.
    const etcdMembers = [50, 51, 52, 53].map(v4);
    const memberPort = new Map(etcdMembers.map((address) => [address, 2379]));
    const memberName = (address: string) => `m${address.split(".").at(-1)}.soak.internal`;
    for (const address of etcdMembers) dns.set(memberName(address), { A: [address] });
    const publishSrv = () =>
      dns!.set(SRV_NAME, { SRV: etcdMembers.map((address) => ({ priority: 0, weight: 10, port: memberPort.get(address)!, target: memberName(address) })) });
    publishSrv();
    const healthCheck = (kind: "http" | "tcp") => (kind === "http" ? { http: { path: "/", timeoutMs: 400 } } : { tcp: { timeoutMs: 400 } });
    const targets: SoakTarget[] = [
      {
        service: "web",
        port: { name: "http", port: 8080 },
        kind: "http",
        universe: webAddresses,
        backendPorts: [8080],
        flaps: ["up", "up", "refused", "blackholed", "http503"],
        guards: { minHealthy: 2, maxRemovalsPerRun: 1 },
        source: () => [{ name: "web-hosts", static: webAddresses.map((address) => ({ address })) }],
        found: () => webAddresses.map((address) => ({ address, port: 8080 })),
      },
      {
        service: "api",
        port: { name: "tcp", port: 7000 },
        kind: "tcp",
        universe: [apiStatic, ...apiPool],
        backendPorts: [7000],
        flaps: ["up", "up", "refused", "blackholed"],
        guards: { maxRemovalsPerRun: "50%" },
        source: () => [
          { name: "api-dns", dns: { name: DNS_NAME, types: ["A"], server: dns!.server, timeoutMs: 150 } },
          { name: "api-static", static: [{ address: apiStatic }] },
        ],
        found: () => [apiStatic, ...dnsAnswer].map((address) => ({ address, port: 7000 })),
      },
      {
        service: "cache",
        port: { name: "redis", port: 6379 },
        kind: "tcp",
        universe: cacheAddresses,
        backendPorts: [6379],
        flaps: ["up", "up", "refused", "blackholed"],
        guards: { minHealthy: 1, maxRemovalsPerRun: 2 },
        source: () => [{ name: "cache-fleet", ec2: { regions: [REGION], tags: { role: "cache" }, endpoint: aws!.endpoint, timeoutMs: 1000 } }],
        found: () => instances.filter((instance) => instance.running).map((instance) => ({ address: instance.address, port: 6379 })),
      },
      {
        service: "batch",
        port: { name: "work", port: 9000 },
        kind: "tcp",
        universe: batchAddresses,
        backendPorts: [9000],
        flaps: ["up", "up", "refused", "blackholed"],
        guards: {},
        source: () => [{ name: "batch-hosts", static: batchAddresses.map((address) => ({ address })) }],
        found: () => batchAddresses.map((address) => ({ address, port: 9000 })),
      },
      {
        service: "etcd",
        port: { name: "client", port: 2379 },
        kind: "tcp",
        universe: etcdMembers,
        backendPorts: [2379, 2380],
        // Not black-holed: that takes the whole address, both ports.
        flaps: ["up", "up", "refused"],
        guards: { maxRemovalsPerRun: 1 },
        source: () => [{ name: "etcd-srv", dns: { name: SRV_NAME, types: ["SRV"], server: dns!.server, timeoutMs: 150 } }],
        found: () => etcdMembers.map((address) => ({ address, port: memberPort.get(address)! })),
      },
    ];
    const byService = new Map(targets.map((target) => [target.service, target]));

    // The backends, all up at first.
    const backends = targets.flatMap((target) =>
      target.universe.flatMap((address) => target.backendPorts.map((port) => ({ address, port, kind: target.kind, flaps: target.flaps, state: "up" as BackendState }))),
    );
    await network.addAddresses([...new Set(backends.map((backend) => backend.address))]);
    for (const backend of backends) await fleet.listen(backend.address, backend.port, { kind: backend.kind });
    const backendFlaps: Record<BackendState, number> = { up: 0, refused: 0, blackholed: 0, http503: 0 };
    const setBackend = async (backend: (typeof backends)[number], state: BackendState) => {
      if (backend.state === state) return;
      if (backend.state === "refused") await fleet!.listen(backend.address, backend.port, { kind: backend.kind });
      if (backend.state === "blackholed") await network!.unblackhole([backend.address]);
      if (backend.state === "http503") await fleet!.setStatus(backend.address, backend.port, 200);
      if (state === "refused") await fleet!.close(backend.address, backend.port);
      if (state === "blackholed") await network!.blackhole([backend.address]);
      if (state === "http503") await fleet!.setStatus(backend.address, backend.port, 503);
      backend.state = state;
      backendFlaps[state]++;
    };

    const serviceUids = new Map<string, string>();
    for (const target of targets) {
      const created = await admin.core.createNamespacedService({ namespace: SOAK_NAMESPACE, body: selectorlessService(SOAK_NAMESPACE, target.service, [target.port]) });
      serviceUids.set(target.service, created.metadata!.uid!);
    }
    const foreign = await plantForeignObjects(cluster, v4);

    const targetConfig = (target: SoakTarget) => ({
      name: target.service,
      cluster: "soak",
      namespace: SOAK_NAMESPACE,
      service: target.service,
      ports: [target.port],
      sources: target.source(),
      check: healthCheck(target.kind),
      rise: RISE,
      fall: FALL,
      recheckDelayMs: 0,
      guards: target.guards,
    });
    const configInput = (configured: SoakTarget[]) => ({ ownerId: SOAK_OWNER, clusters: [{ name: "soak", kubeconfig: kube!.kubeconfig }], targets: configured.map(targetConfig) });
    // One set of clients for every in-process run, as one warm Lambda keeps them.
    const connections = new ClusterConnections(testConfig(configInput(targets)).clusters);
    // Every target the soak ever configures, granted once (through the proxy, so its entry is named).
    await cluster.grant(testConfig(configInput(targets)), "soak");

    const figures: SoakFigures = {
      seed: options.seed,
      faultRuns: 0,
      cliRuns: 0,
      kubeFaults: kube.injected,
      killsNotReached: 0,
      sourceFaults: { dnsServfail: 0, dnsTimeout: 0, dnsAnswerChanged: 0, srvPortMoved: 0, awsThrottled: 0, awsServerError: 0, ec2StateChanged: 0 },
      backendFlaps,
      targetLeftConfig: 0,
      failedTargetRuns: 0,
      conflictsRetried: 0,
      guardTrips: {},
      syncerWrites: 0,
      violations: [],
      convergence: { runs: 0, bound: 0, converged: false },
      idleRunWrites: 0,
      durationSeconds: 0,
    };
    const auditStart = await cluster.auditMark();

    /** One run: in this process, or as a CLI process killed after its `killAfter`th write. */
    const syncOnce = async (configured: SoakTarget[], killAfter?: number): Promise<RunReport | undefined> => {
      const input = configInput(configured);
      if (killAfter === undefined) {
        const config = testConfig(input);
        return runSync(config, connections);
      }
      const file = path.join(cluster!.local.dir, "soak-cli.yaml");
      await writeFile(file, stringify(input));
      figures.cliRuns++;
      const child = spawn(process.execPath, [CLI, "sync", "--config", file, "-o", "json"], { stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
      child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-2_000)));
      const exited = new Promise<void>((resolve) => child.once("close", () => resolve()));
      kube!.armKill(killAfter, () => child.kill("SIGKILL"));
      await exited;
      if (kube!.disarmKill()) return undefined;
      figures.killsNotReached++;
      try {
        return JSON.parse(stdout) as RunReport;
      } catch {
        throw new Error(`the CLI ended without a report (code ${child.exitCode}): ${stderr.trim()}`);
      }
    };

    let previous = await readState(cluster, serviceUids);
    let configured = [...targets];
    /** The targets of the last run, for what "still configured" means in the next. */
    let configuredNames = new Set(configured.map((target) => target.service));
    let run = 0;
    const stallRuns = new Set(Array.from({ length: options.stalls }, (_, index) => Math.round(((index + 1) * options.runs) / (options.stalls + 1))));

    /** A run, then every invariant against what the API server holds after it. */
    const runAndCheck = async (killAfter?: number) => {
      run++;
      const before = previous;
      const wasConfigured = new Set(configuredNames);
      configuredNames = new Set(configured.map((target) => target.service));
      const report = await syncOnce(configured, killAfter);
      await kube!.settled();
      const after = await readState(cluster!, serviceUids);
      const violations = checkInvariants({ run, before, after, report, targets: byService, configured: configuredNames, wasConfigured, foreign });
      figures.violations.push(...violations);
      for (const violation of violations) log(`VIOLATION run ${run} (seed ${options.seed}) ${violation.invariant}: ${violation.detail}`);
      previous = after;
      return { report, after };
    };

    // The fault runs.
    for (let index = 1; index <= options.runs; index++) {
      // The batch target leaves the config now and then (its objects are pruned) and comes back.
      const batch = byService.get("batch")!;
      if (configured.includes(batch) && random() < 0.03) {
        configured = configured.filter((target) => target !== batch);
        figures.targetLeftConfig++;
      } else if (!configured.includes(batch) && random() < 0.25) configured = [...configured, batch];

      for (const backend of backends) if (random() < 0.08) await setBackend(backend, pick(backend.flaps));

      const dnsRoll = random();
      if (dnsRoll < 0.1) {
        dns.misbehave(DNS_NAME, "servfail");
        figures.sourceFaults.dnsServfail++;
      } else if (dnsRoll < 0.16) {
        dns.misbehave(DNS_NAME, "hang");
        figures.sourceFaults.dnsTimeout++;
      } else {
        if (random() < 0.25) {
          dnsAnswer = apiPool.filter(() => random() < 0.5);
          figures.sourceFaults.dnsAnswerChanged++;
        }
        dns.set(DNS_NAME, { A: dnsAnswer });
      }
      if (random() < 0.05) {
        dns.misbehave(SRV_NAME, "servfail");
        figures.sourceFaults.dnsServfail++;
      } else {
        if (random() < 0.1) {
          const member = pick(etcdMembers);
          memberPort.set(member, memberPort.get(member) === 2379 ? 2380 : 2379);
          figures.sourceFaults.srvPortMoved++;
        }
        publishSrv();
      }

      const awsRoll = random();
      if (awsRoll < 0.05) {
        aws.fault("throttle", ["DescribeInstances"]);
        figures.sourceFaults.awsThrottled++;
      } else if (awsRoll < 0.09) {
        aws.fault("serverError", ["DescribeInstances"]);
        figures.sourceFaults.awsServerError++;
      } else aws.fault(undefined);
      if (random() < 0.05) {
        // Never fewer than three running: the cache target's only source must keep finding backends.
        const running = instances.filter((instance) => instance.running);
        const instance = pick(instances);
        if (instance.running && running.length > 3) {
          await ec2.send(new StopInstancesCommand({ InstanceIds: [instance.id] }));
          instance.running = false;
          figures.sourceFaults.ec2StateChanged++;
        } else if (!instance.running) {
          await ec2.send(new StartInstancesCommand({ InstanceIds: [instance.id] }));
          instance.running = true;
          figures.sourceFaults.ec2StateChanged++;
        }
      }

      const kill = index % options.killEvery === 0;
      const mode = kill ? "none" : pick(["none", "none", "conflicts", "serverErrors", "resets", "mixed"] as const);
      kube.plan(
        {
          none: {},
          conflicts: { conflictRate: 0.7 },
          serverErrors: { serverErrorRate: 0.15 },
          resets: { resetRate: 0.15 },
          mixed: { conflictRate: 0.2, serverErrorRate: 0.05, resetRate: 0.05 },
        }[mode],
      );
      if (stallRuns.has(index)) kube.armStall();
      const killAfter = kill ? 1 + Math.floor(random() * 4) : undefined;

      const { report } = await runAndCheck(killAfter);
      figures.faultRuns++;
      for (const target of report?.targets ?? []) {
        if (target.status === "failed") figures.failedTargetRuns++;
        figures.conflictsRetried += target.conflictsRetried;
        for (const trip of target.guards) figures.guardTrips[trip.guard] = (figures.guardTrips[trip.guard] ?? 0) + 1;
      }
      if (index % 25 === 0) log(`run ${index}/${options.runs}: ${figures.violations.length} violations, ${Math.round((performance.now() - started) / 1000)} s`);
    }

    // The faults stop: the backends settle in a final state (each target keeping at least minHealthy + 1 up),
    // the sources answer, every target is configured.
    kube.plan({});
    kube.disarmStall();
    aws.fault(undefined);
    dns.set(DNS_NAME, { A: dnsAnswer });
    publishSrv();
    configured = [...targets];
    const expected = new Map<string, Map<string, Published>>();
    for (const target of targets) {
      const found = target.found();
      const own = backends.filter((backend) => found.some(({ address, port }) => backend.address === address && backend.port === port));
      for (const backend of own) await setBackend(backend, random() < 0.7 ? "up" : pick(backend.flaps.filter((state) => state !== "up")));
      const wanted = (target.guards.minHealthy ?? 0) + 1;
      for (const backend of own) if (own.filter((other) => other.state === "up").length < wanted) await setBackend(backend, "up");
      const up = (address: string, port: number) => own.find((backend) => backend.address === address && backend.port === port)!.state === "up";
      expected.set(target.service, new Map(found.map(({ address, port }) => [address, { address, port, ready: up(address, port) }])));
    }
    // Bound: max(rise, fall) runs to turn every backend, then the removals maxRemovalsPerRun still holds back.
    figures.convergence.bound = Math.max(
      ...targets.map((target) => {
        const readyNow = previous.readyOf(target.service);
        const removals = [...readyNow].filter((address) => !expected.get(target.service)!.get(address)?.ready).length;
        const cap = target.guards.maxRemovalsPerRun === undefined ? Infinity : amountOf(target.guards.maxRemovalsPerRun, readyNow.size);
        return Math.max(RISE, FALL) + (removals === 0 ? 0 : Math.ceil(removals / Math.max(cap, 1)));
      }),
    );
    for (let index = 1; index <= figures.convergence.bound + 5; index++) {
      const { after } = await runAndCheck();
      if (targets.every((target) => publishedMatches(after, target.service, expected.get(target.service)!))) {
        figures.convergence = { ...figures.convergence, runs: index, converged: true };
        break;
      }
    }
    if (figures.convergence.converged) {
      const { report } = await runAndCheck();
      figures.idleRunWrites = (report?.targets ?? []).reduce((sum, target) => sum + target.writes, 0);
    } else {
      for (const target of targets) {
        if (!publishedMatches(previous, target.service, expected.get(target.service)!)) {
          log(`not converged: ${target.service} published ${JSON.stringify([...previous.publishedOf(target.service).values()])}, expected ${JSON.stringify([...expected.get(target.service)!.values()])}`);
        }
      }
    }

    // The audit log, once: no write of the syncer ever reached a foreign object.
    const writes = await cluster.syncerWritesSince(auditStart);
    figures.syncerWrites = writes.length;
    for (const event of writes) {
      const key = `${event.objectRef?.resource}/${event.objectRef?.name}`;
      if (foreign.some((object) => object.key === key)) figures.violations.push({ run: 0, invariant: "foreign", detail: `the audit log shows ${event.verb} ${key}` });
    }
    figures.durationSeconds = Math.round((performance.now() - started) / 1000);
    return figures;
  } finally {
    await fleet?.stop();
    await network?.destroy();
    await kube?.stop();
    await aws?.stop();
    await moto?.stop();
    await dns?.stop();
    await cluster?.stop();
  }
}

/** Objects the syncer must never touch, in its namespace, beside its own. */
async function plantForeignObjects(cluster: TestCluster, v4: (host: number) => string): Promise<ForeignObject[]> {
  const { core, discovery } = cluster.admin;
  const namespace = SOAK_NAMESPACE;
  const otherInstallation = { "app.kubernetes.io/managed-by": "external-endpoint-syncer", "external-endpoint-syncer/owner": "other" };
  const slice = (name: string, service: string, labels: Record<string, string>, host: number, port: { name: string; port: number }): V1EndpointSlice => ({
    metadata: { name, namespace, labels: { ...labels, "kubernetes.io/service-name": service } },
    addressType: "IPv4",
    endpoints: [{ addresses: [v4(host)], conditions: { ready: true } }],
    ports: [{ ...port, protocol: "TCP" }],
  });
  const planted = [
    // Another controller's slice for one of our Services.
    await discovery.createNamespacedEndpointSlice({
      namespace,
      body: slice("web-manual", "web", { "endpointslice.kubernetes.io/managed-by": "hand-rolled.example.com" }, 200, { name: "http", port: 8080 }),
    }),
    // Another installation's slice, Endpoints and memory, for its own Service beside ours (one slice of another
    // installation for a Service of ours makes the syncer refuse that Service: a case of its own, not a soak's).
    await discovery.createNamespacedEndpointSlice({
      namespace,
      body: slice("other-ipv4-0", "other", { ...otherInstallation, "endpointslice.kubernetes.io/managed-by": "external-endpoint-syncer" }, 201, { name: "tcp", port: 7000 }),
    }),
    await core.createNamespacedEndpoints({
      namespace,
      body: { metadata: { name: "other", namespace, labels: { ...otherInstallation, "endpointslice.kubernetes.io/skip-mirror": "true" } }, subsets: [{ addresses: [{ ip: v4(202) }], ports: [{ port: 80 }] }] },
    }),
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: "other-ees-memory", namespace, labels: { ...otherInstallation, "external-endpoint-syncer/service": "other" } }, data: { note: "another installation's" } },
    }),
    // A hand-made Endpoints for a Service not in the config.
    await core.createNamespacedEndpoints({ namespace, body: { metadata: { name: "legacy", namespace }, subsets: [{ addresses: [{ ip: v4(203) }], ports: [{ port: 80 }] }] } }),
    // Named like the batch target's memory, but not ours: the syncer must run that target without memory.
    await core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: "batch-ees-memory", namespace, labels: { "external-endpoint-syncer/service": "batch" } }, data: { note: "someone else's" } },
    }),
  ];
  const resources = ["endpointslices", "endpointslices", "endpoints", "configmaps", "endpoints", "configmaps"];
  return planted.map((object, index) => ({ key: `${resources[index]}/${object.metadata!.name}`, resourceVersion: object.metadata!.resourceVersion! }));
}

/** The figures as a table for the test's output and docs/testing.md. */
export function formatFigures(figures: SoakFigures): string {
  const rows: [string, string][] = [
    ["seed", String(figures.seed)],
    ["runs with faults (of them CLI processes)", `${figures.faultRuns} (${figures.cliRuns})`],
    ...KUBE_FAULT_KINDS.map((kind): [string, string] => [`API faults: ${kind}`, String(figures.kubeFaults[kind])]),
    ["kill-mid-apply runs that ended before their write", String(figures.killsNotReached)],
    ...Object.entries(figures.sourceFaults).map(([kind, count]): [string, string] => [`source faults: ${kind} (runs)`, String(count)]),
    ...Object.entries(figures.backendFlaps).map(([state, count]): [string, string] => [`backend flaps to ${state}`, String(count)]),
    ["target left the config (pruned)", String(figures.targetLeftConfig)],
    ["failed target runs / 409s retried", `${figures.failedTargetRuns} / ${figures.conflictsRetried}`],
    ["guard trips", Object.entries(figures.guardTrips).map(([guard, count]) => `${guard} ${count}`).join(", ") || "none"],
    ["syncer writes (audit log)", String(figures.syncerWrites)],
    ["invariant violations", String(figures.violations.length)],
    ["runs to converge after the faults (bound)", `${figures.convergence.converged ? figures.convergence.runs : "not converged"} (≤ ${figures.convergence.bound})`],
    ["writes of the next run", String(figures.idleRunWrites)],
    ["duration", `${figures.durationSeconds} s`],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  return rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join("\n");
}
