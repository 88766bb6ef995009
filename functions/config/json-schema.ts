import { z } from "zod";
import { configSchema } from "./schema.ts";

/** The JSON Schema editors use to check a config as it is typed; generated, never edited by hand. */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" }),
    title: "external-endpoint-syncer config",
  };
}
