// The command as users run it: package.json's bin, which npm's `prepare` (and `pretest`) builds into dist/cli.
import path from "node:path";

export const CLI = path.join(import.meta.dirname, "../../dist/cli/external-endpoint-syncer.mjs");
