// The config's schema, one file per part under schema/ (common pieces, clusters, sources, checks, guards,
// targets, the whole); this is the one place the rest of the code imports it from.
export type { ClusterConfig } from "./schema/clusters.ts";
export type { CheckConfig } from "./schema/checks.ts";
export { LABEL_VALUE } from "./schema/common.ts";
export { configSchema, metricsSchema, syncIntervalSchema, type Config } from "./schema/config.ts";
export type { GuardsConfig } from "./schema/guards.ts";
export type { DnsSourceConfig, Ec2SourceConfig, FileSourceConfig, Route53SourceConfig, SourceConfig, StaticEntry } from "./schema/sources.ts";
export type { PortConfig, TargetConfig } from "./schema/target.ts";
