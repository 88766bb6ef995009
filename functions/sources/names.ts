import { DNS_LABEL } from "../config/schema/common.ts";

/** Whether `text` can be an EndpointSlice hostname: a DNS label. */
export function isDnsLabel(text: string): boolean {
  return text.length <= 63 && DNS_LABEL.test(text);
}

/** A DNS name's first label, lower-cased (names are case-blind), when it can be an endpoint's hostname. */
export function hostnameOf(name: string): string | undefined {
  const label = name.split(".")[0]!.toLowerCase();
  return isDnsLabel(label) ? label : undefined;
}
