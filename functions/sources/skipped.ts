/** Something a source found but could not make a backend of, and why. */
export interface Skipped {
  resource: string;
  reason: string;
}

const NAMED = 5;

/** One warning per reason, naming a few of the resources: 5,000 instances without IPv6 make one line, not 5,000. */
export function summarizeSkipped(skipped: Skipped[]): string[] {
  const byReason = new Map<string, string[]>();
  for (const { resource, reason } of skipped) {
    const resources = byReason.get(reason) ?? [];
    resources.push(resource);
    byReason.set(reason, resources);
  }
  return [...byReason].map(([reason, resources]) => {
    const named = resources.slice(0, NAMED).join(", ");
    const more = resources.length > NAMED ? ` and ${resources.length - NAMED} more` : "";
    return `left out ${named}${more}: ${reason}`;
  });
}
