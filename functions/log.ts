/** One JSON object per line, as CloudWatch and log pipelines expect. Never give it secrets. */
export function logJson(level: "info" | "warn" | "error", message: string, fields: Record<string, unknown> = {}): void {
  const line = JSON.stringify({ level, message, timestamp: new Date().toISOString(), ...fields });
  if (level === "error") console.error(line);
  else console.log(line);
}
