// `targets[]`: a Service, its ports, sources, check, guards and what to publish.
import * as z from "zod";
import { checkSchema, type CheckConfig } from "./checks.ts";
import { dnsLabel, port } from "./common.ts";
import { guardsSchema } from "./guards.ts";
import { sourceSchema } from "./sources.ts";

const portSchema = z.strictObject({
  name: dnsLabel.optional().describe("The port's name, as the Service's port of the same name; needed when there are several."),
  port: port.describe("The backends' port."),
  protocol: z.enum(["TCP", "UDP", "SCTP"], { error: "expected TCP, UDP or SCTP" }).default("TCP").describe("The port's protocol."),
  appProtocol: z.string().min(1).max(63).optional().describe("The application protocol, written as the endpoint port's appProtocol."),
});

const targetShape = z.strictObject({
  name: dnsLabel.describe("The target's name, unique in the config; used in logs, metrics and the objects' labels."),
  cluster: dnsLabel.describe("The name of the cluster (in `clusters`) the Service is in."),
  namespace: dnsLabel.describe("The Service's namespace."),
  service: dnsLabel.describe("The Service whose endpoints are written."),
  ports: z.array(portSchema).min(1, { error: "expected at least one port" }).describe("The ports written on every endpoint."),
  sources: z.array(sourceSchema).min(1, { error: "expected at least one source" }).describe("Where the backends come from; their union is the target's backends."),
  check: z
    .union([checkSchema, z.array(checkSchema).min(1, { error: "expected at least one check" })], { error: "expected a check or a list of checks" })
    .default({ tcp: { timeoutMs: 2000 } })
    .describe("One check, or a list of them that must all pass."),
  rise: z.int({ error: "expected a whole number 1-10" }).min(1, { error: "expected 1-10" }).max(10, { error: "expected 1-10" }).default(2).describe("Passing runs in a row before a not-ready backend turns ready (AWS target groups: 2)."),
  fall: z.int({ error: "expected a whole number 1-10" }).min(1, { error: "expected 1-10" }).max(10, { error: "expected 1-10" }).default(2).describe("Failing runs in a row before a ready backend turns not ready."),
  recheckDelayMs: z.int().min(0).max(10_000).default(200).describe("A failing probe is tried once more this much later, in the same run, before it counts (0: never)."),
  guards: guardsSchema.default({ belowMinHealthy: "keepPrevious", neverEmpty: true }).describe("The limits on what one run may publish."),
  publish: z
    .strictObject({
      endpointSlices: z.boolean().default(true).describe("Write EndpointSlices."),
      endpoints: z.boolean().default(true).describe("Write the v1 Endpoints object too, for readers that still use it."),
    })
    .default({ endpointSlices: true, endpoints: true })
    .describe("Which kinds of object are written."),
  failing: z.enum(["notReady", "drop"], { error: "expected notReady or drop" }).default("notReady").describe("What failing backends become: published not ready, or left out."),
  createService: z.boolean().default(false).describe("Create the Service, selector-less, when it is missing."),
  adopt: z.boolean().default(false).describe("Take over an existing Endpoints or hand-made EndpointSlice that lacks our managed-by label."),
});

export const targetSchema = targetShape.superRefine(probesWithinTrigger);

/** API Gateway ends a request after 29 s, so POST /sync (whose function has the same timeout) must probe in less. */
const TRIGGER_LIMIT_MS = 29_000;

/**
 * The longest one backend's probing can take: the checks run one after another, each within its timeoutMs;
 * a failure other than Timeout is probed again after recheckDelayMs, jittered up to 1.5 times, and that
 * second attempt can take as long again. Waits for a free probe slot are not counted: they depend on the fleet.
 */
export function worstProbeMs(target: { check: CheckConfig | CheckConfig[]; recheckDelayMs: number }): { ms: number; rule: string } {
  const checks = Array.isArray(target.check) ? target.check : [target.check];
  const once = checks.reduce((sum, check) => sum + (Object.values(check).find((kind) => kind?.timeoutMs !== undefined)?.timeoutMs ?? 0), 0);
  if (target.recheckDelayMs === 0 || once === 0) return { ms: once, rule: `${once} ms of checks` };
  return { ms: 2 * once + 1.5 * target.recheckDelayMs, rule: `2 × ${once} ms of checks + 1.5 × ${target.recheckDelayMs} ms re-check delay` };
}

function probesWithinTrigger(target: z.output<typeof targetShape>, ctx: z.RefinementCtx) {
  const { ms, rule } = worstProbeMs(target);
  if (ms >= TRIGGER_LIMIT_MS) {
    ctx.addIssue({
      code: "custom",
      path: ["check"],
      message: `target ${target.name}: probing one backend can take ${ms / 1000} s (${rule}), and POST /sync must answer within ${TRIGGER_LIMIT_MS / 1000} s; lower the timeouts or recheckDelayMs`,
    });
  }
}

export type TargetConfig = z.output<typeof targetSchema>;
export type PortConfig = z.output<typeof portSchema>;
