/**
 * Decides which executions get a warm (cached) isolate. Local workerd never frees a named isolate,
 * so the number of names ever used is capped: code is warmed the second time it is seen, until
 * `maxWarm` names exist; everything else runs in a one-off isolate that is freed afterwards.
 */
export class IsolatePolicy {
  readonly #maxWarm: number;
  readonly #maxSeen: number;
  readonly #warm = new Set<string>();
  readonly #seen = new Map<string, true>();

  constructor(maxWarm: number, maxSeen = 4096) {
    this.#maxWarm = maxWarm;
    this.#maxSeen = maxSeen;
  }

  /** True if this code hash should run in a named, cached isolate. */
  warm(hash: string): boolean {
    if (this.#warm.has(hash)) return true;
    if (!this.#seen.has(hash)) {
      this.#seen.set(hash, true);
      if (this.#seen.size > this.#maxSeen) {
        const oldest = this.#seen.keys().next().value;
        if (oldest !== undefined) this.#seen.delete(oldest);
      }
      return false;
    }
    if (this.#warm.size >= this.#maxWarm) return false;
    this.#warm.add(hash);
    return true;
  }
}
