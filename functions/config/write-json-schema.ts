// npm run schema: regenerates infra/config.schema.json from the zod schema.
import { writeFile } from "node:fs/promises";
import { configJsonSchema } from "./json-schema.ts";

const path = new URL("../../infra/config.schema.json", import.meta.url);
await writeFile(path, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
console.log(`wrote ${path.pathname}`);
