import { isIP } from "node:net";
import type { HealthCheckObservation, ListResourceRecordSetsCommandOutput, ResourceRecordSet, Route53Client, RRType } from "@aws-sdk/client-route-53";
import type { Route53SourceConfig } from "../config/schema.ts";
import type { Backend, SourceResult } from "../model.ts";
import { describeAwsError, route53Client } from "./aws.ts";
import { hostnameOf } from "./names.ts";
import type { Source } from "./source.ts";
import { summarizeSkipped, type Skipped } from "./skipped.ts";

/** ListResourceRecordSets' largest page. */
const PAGE_SIZE = 300;
/** Route 53 counts an endpoint healthy when more than 18% of its checkers say so. */
const HEALTHY_SHARE = 0.18;

/** The A and AAAA record sets of one name in a hosted zone: simple, weighted, multivalue, failover and the rest. */
export class Route53Source implements Source {
  readonly name: string;
  readonly #config: Route53SourceConfig;
  readonly #recordName: string;

  constructor(name: string, config: Route53SourceConfig) {
    this.name = name;
    this.#config = config;
    this.#recordName = normalizeName(config.name);
  }

  async discover(signal: AbortSignal): Promise<SourceResult> {
    let call = "route53";
    try {
      const client = await route53Client(this.#config);
      call = "route53 ListHostedZonesByName";
      const zoneId = this.#config.zoneId ?? (await this.#lookUpZone(client, signal));
      call = `route53 ListResourceRecordSets of ${this.#recordName} in ${zoneId}`;
      const sets = await this.#recordSets(client, zoneId, signal);
      call = "route53 GetHealthCheckStatus";
      const unhealthy = this.#config.healthChecks ? await this.#unhealthyChecks(client, sets, signal) : new Map<string, string>();
      return this.#result(sets, unhealthy);
    } catch (error) {
      const message = error instanceof Route53AnswerError ? error.message : describeAwsError(call, error);
      return { source: this.name, status: "failed", error: message };
    }
  }

  /** A zone name names exactly one zone, or the source cannot look. */
  async #lookUpZone(client: Route53Client, signal: AbortSignal): Promise<string> {
    const { ListHostedZonesByNameCommand } = await import("../aws/sdk-route53.ts");
    const zoneName = normalizeName(this.#config.zoneName!);
    // Zones come sorted by name from DNSName on: two of the same name (public and private) fit in a page of 2.
    const page = await client.send(new ListHostedZonesByNameCommand({ DNSName: zoneName, MaxItems: 2 }), { abortSignal: signal });
    const zones = (page.HostedZones ?? []).filter((zone) => normalizeName(zone.Name ?? "") === zoneName);
    if (zones.length === 0) throw new Route53AnswerError(`route53: no hosted zone named ${zoneName}`);
    if (zones.length > 1) throw new Route53AnswerError(`route53: ${zones.length} hosted zones are named ${zoneName} (${zones.map((zone) => zone.Id).join(", ")}): give zoneId`);
    return zones[0]!.Id!;
  }

  /** Every set of the name, A and AAAA: the SDK has no paginator for this call, so follow Next* by hand. */
  async #recordSets(client: Route53Client, zoneId: string, signal: AbortSignal): Promise<ResourceRecordSet[]> {
    const { ListResourceRecordSetsCommand } = await import("../aws/sdk-route53.ts");
    const types = new Set<string>(this.#config.types);
    const sets: ResourceRecordSet[] = [];
    // Sets are sorted by name, then type (A before AAAA): start at our name's first type, and go on only while
    // the next page starts with a set of our name and types.
    let start: RecordPointer | undefined = { name: this.#recordName, type: [...types].sort()[0]! };
    while (start) {
      const page: ListResourceRecordSetsCommandOutput = await client.send(
        new ListResourceRecordSetsCommand({
          HostedZoneId: zoneId,
          StartRecordName: start.name,
          StartRecordType: start.type as RRType,
          StartRecordIdentifier: start.identifier,
          MaxItems: PAGE_SIZE,
        }),
        { abortSignal: signal },
      );
      sets.push(...(page.ResourceRecordSets ?? []).filter((set) => normalizeName(set.Name ?? "") === this.#recordName && types.has(set.Type ?? "")));
      const next: RecordPointer = { name: normalizeName(page.NextRecordName ?? ""), type: page.NextRecordType ?? "", identifier: page.NextRecordIdentifier };
      if (!page.IsTruncated || next.name !== this.#recordName || !types.has(next.type)) break;
      if (next.type === start.type && next.identifier === start.identifier) {
        // Asking again would return this page again, for ever (moto, which ignores set identifiers, does this).
        throw new Route53AnswerError(`route53: ListResourceRecordSets of ${this.#recordName} ${next.type} in ${zoneId} did not move on: more sets than a page holds, and no NextRecordIdentifier`);
      }
      start = next;
    }
    return sets;
  }

  /** Health check id → why it counts as unhealthy, for the checks the sets name. */
  async #unhealthyChecks(client: Route53Client, sets: ResourceRecordSet[], signal: AbortSignal): Promise<Map<string, string>> {
    const { GetHealthCheckStatusCommand } = await import("../aws/sdk-route53.ts");
    const unhealthy = new Map<string, string>();
    // One after another: Route 53's API allows an account five requests a second.
    for (const id of new Set(sets.flatMap((set) => (set.HealthCheckId ? [set.HealthCheckId] : [])))) {
      const status = await client.send(new GetHealthCheckStatusCommand({ HealthCheckId: id }), { abortSignal: signal });
      const reason = unhealthyReason(id, status.HealthCheckObservations ?? []);
      if (reason !== undefined) unhealthy.set(id, reason);
    }
    return unhealthy;
  }

  #result(sets: ResourceRecordSet[], unhealthy: Map<string, string>): SourceResult {
    const hostname = hostnameOf(this.#recordName);
    const byAddress = new Map<string, Backend>();
    const skipped: Skipped[] = [];
    for (const set of sets) {
      const origin = `${this.name}: ${set.Type} ${setLabel(set)}`;
      if (set.AliasTarget) {
        skipped.push({ resource: `${set.Type} ${setLabel(set)}`, reason: `an alias to ${set.AliasTarget.DNSName}, which is not followed` });
        continue;
      }
      const down = set.HealthCheckId ? unhealthy.get(set.HealthCheckId) : undefined;
      for (const { Value: address } of set.ResourceRecords ?? []) {
        if (!address) continue;
        // One address in several sets is one backend, down if any set's health check says so.
        const earlier = byAddress.get(address);
        byAddress.set(address, {
          address,
          family: isIP(address) === 6 ? "IPv6" : "IPv4",
          hostname,
          sources: [this.name],
          origins: [...(earlier?.origins ?? []), origin],
          ...((earlier?.unhealthy ?? down) !== undefined && { unhealthy: earlier?.unhealthy ?? down }),
        });
      }
    }
    const warnings = summarizeSkipped(skipped);
    return { source: this.name, status: "ok", backends: [...byAddress.values()], ...(warnings.length > 0 && { warnings }) };
  }
}

/** Where ListResourceRecordSets starts: a name, a type, and within them a set identifier. */
interface RecordPointer {
  name: string;
  type: string;
  identifier?: string;
}

/** A zone or record lookup that AWS answered, but not as the config expects. */
class Route53AnswerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Route53AnswerError";
  }
}

/** Lower case with a final dot, and Route 53's octal escapes (`\052` for `*`) decoded. */
export function normalizeName(name: string): string {
  const decoded = name.replace(/\\(\d{3})/g, (_match, octal: string) => String.fromCharCode(Number.parseInt(octal, 8))).toLowerCase();
  return decoded.endsWith(".") ? decoded : `${decoded}.`;
}

/** Which set of the name, and its routing: `set "blue" (weight 10)`; a simple record has no set id. */
function setLabel(set: ResourceRecordSet): string {
  if (set.SetIdentifier === undefined) return "(simple)";
  const routing =
    set.Weight !== undefined ? `weight ${set.Weight}`
    : set.Failover ? `failover ${set.Failover}`
    : set.MultiValueAnswer ? "multivalue"
    : set.Region ? `latency ${set.Region}`
    : set.GeoLocation ? "geolocation"
    : set.GeoProximityLocation ? "geoproximity"
    : set.CidrRoutingConfig ? "cidr"
    : "routed";
  return `set ${JSON.stringify(set.SetIdentifier)} (${routing})`;
}

/** Pure: undefined when Route 53 would call the check healthy (or has no observations yet), else why not. */
export function unhealthyReason(id: string, observations: HealthCheckObservation[]): string | undefined {
  if (observations.length === 0) return undefined;
  const healthy = observations.filter((observation) => observation.StatusReport?.Status?.startsWith("Success")).length;
  if (healthy / observations.length > HEALTHY_SHARE) return undefined;
  const sample = observations.find((observation) => !observation.StatusReport?.Status?.startsWith("Success"))?.StatusReport?.Status;
  return `Route 53 health check ${id}: ${healthy} of ${observations.length} checkers report healthy${sample ? ` (${sample})` : ""}`;
}
