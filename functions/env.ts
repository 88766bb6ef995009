import { LABEL_VALUE } from "./config/schema.ts";
import { DEFAULT_INSTALLATION } from "./registry/labels.ts";

/** A required environment variable is missing or blank. */
export class EnvError extends Error {
  constructor(name: string, problem: string) {
    super(`environment variable ${name} ${problem}`);
    this.name = "EnvError";
  }
}

/** The environment, read in one place: trimmed, and blank counts as unset. */
export function optionalEnv(name: string): string | undefined {
  const value = process.env[name]?.trim();
  return value ? value : undefined;
}

export function requireEnv(name: string): string {
  const value = optionalEnv(name);
  if (value === undefined) throw new EnvError(name, "is not set");
  return value;
}

/**
 * Which deployment writes: `--installation`, else EES_INSTALLATION (serverless.yml sets the service and stage),
 * else `default`. It labels everything written, so installations never prune or overwrite each other's objects.
 */
export function installationId(flag?: string): string {
  const [installation, from] =
    flag !== undefined ? [flag, "--installation"] : [optionalEnv("EES_INSTALLATION") ?? DEFAULT_INSTALLATION, "environment variable EES_INSTALLATION"];
  if (installation === "" || installation.length > 63 || !LABEL_VALUE.test(installation)) {
    throw new InstallationError(`${from} is ${JSON.stringify(installation)}: expected a label value (at most 63 letters, digits, '-', '_' and '.', starting and ending with a letter or digit)`);
  }
  return installation;
}

export class InstallationError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "InstallationError";
  }
}
