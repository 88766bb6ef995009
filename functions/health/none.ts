import type { Check } from "./check.ts";

/** `check: { none: {} }`: every backend passes unprobed; probeAll knows it and skips the probing altogether. */
export const notChecked: Check = { kind: "none", probe: async () => ({ status: "pass", reason: "NotChecked", latencyMs: 0 }) };
