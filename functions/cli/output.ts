import { stringify } from "yaml";
import type { Output } from "./args.ts";

/** `-o`: the table for people (the default), or the whole value as JSON or YAML for programs. */
export function printOutput(output: Output, value: object, table: () => string): void {
  const text = output === "json" ? JSON.stringify(value, null, 2) : output === "yaml" ? stringify(value).trimEnd() : table();
  process.stdout.write(`${text}\n`);
}
