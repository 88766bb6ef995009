import type { SourceConfig } from "../config/schema.ts";
import { DnsSource } from "./dns.ts";
import { Ec2Source } from "./ec2.ts";
import { FileSource } from "./file.ts";
import { Route53Source } from "./route53.ts";
import type { Source } from "./source.ts";
import { StaticSource } from "./static.ts";

/** One source per entry; an unnamed one is called after its kind and place (`ec2[1]`). */
export function buildSources(configs: SourceConfig[]): Source[] {
  return configs.map((config, index) => {
    const named = (kind: string) => config.name ?? `${kind}[${index}]`;
    if (config.ec2) return new Ec2Source(named("ec2"), config.ec2);
    if (config.route53) return new Route53Source(named("route53"), config.route53);
    if (config.dns) return new DnsSource(named("dns"), config.dns);
    if (config.file) return new FileSource(named("file"), config.file);
    return new StaticSource(named("static"), config.static ?? []);
  });
}
