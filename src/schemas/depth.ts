/**
 * Whether `value` nests arrays and objects more than `limit` levels deep (`[0]` is one level).
 * Iterative, so no depth overflows the check itself; it stops at the first level past `limit`,
 * which also ends it on a cycle.
 */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  const pending: object[] = [];
  const levels: number[] = [];
  if (typeof value === "object" && value !== null) {
    pending.push(value);
    levels.push(1);
  }
  for (;;) {
    const item = pending.pop();
    const level = levels.pop();
    if (item === undefined || level === undefined) return false;
    if (level > limit) return true;
    for (const child of Array.isArray(item) ? item : Object.values(item)) {
      if (typeof child === "object" && child !== null) {
        pending.push(child);
        levels.push(level + 1);
      }
    }
  }
}
