// `targets[].guards`: the limits on what one run may publish.
import * as z from "zod";

/** A count (`3`) or a share of the backends (`"25%"`). */
const countOrPercent = (minimum: number) =>
  z.union(
    [
      z.int().min(minimum, { error: `expected a count of at least ${minimum}, or a percentage such as "25%"` }),
      z.string().regex(/^(100|[1-9]\d?)%$/, { error: "expected a percentage from 1% to 100%, such as \"25%\"" }),
    ],
    { error: `expected a count of at least ${minimum}, or a percentage such as "25%"` },
  );

export const guardsSchema = z.strictObject({
  minHealthy: countOrPercent(1).optional().describe("Fewer healthy backends than this (a count, or a share of those found) trips the guard. Default: no minimum."),
  belowMinHealthy: z.enum(["keepPrevious", "publishAll"], { error: "expected keepPrevious or publishAll" }).default("keepPrevious").describe("When minHealthy trips: keep the set published now, or publish every backend ready (Envoy's panic mode)."),
  maxRemovalsPerRun: countOrPercent(1).optional().describe("At most this many ready endpoints stop being ready (removed or turned not ready) in one run. Default: no cap."),
  neverEmpty: z.boolean().default(true).describe("Never go from some ready endpoints to none, unless every source answered that there are no backends."),
});

export type GuardsConfig = z.output<typeof guardsSchema>;
