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
