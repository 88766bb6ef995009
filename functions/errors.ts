/** What a caught value says, for a report or a log line: its message, or its name when the message is empty. */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message || error.name : String(error);
}
