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

/** One run's hold on a heavy reused isolate (HeavyIsolates.enter). */
export interface Hold {
  readonly name: string;
  /** When the caller stops waiting for the run's answer. */
  readonly until: number;
}

/**
 * The heavy reused isolates of one process (a runtime's `heavyPerProcess`): at most `max` names,
 * in order of last use. A name with a run in flight is not ended, and no second run joins it; nor
 * is one used within `keepMs` ended for a newcomer, which runs one-shot instead (ending and making
 * interpreters costs memory the process does not all get back: a few sessions taking turns would
 * otherwise end one at every turn). A run whose caller stopped waiting (its deadline passed: the
 * process answered for it) may never settle here; its isolate counts as idle, and is ended before
 * its name is used again.
 */
export class HeavyIsolates {
  readonly #max: number;
  readonly #keepMs: number;
  /** Name → its runs in flight and when it was last entered, least recently used first. */
  readonly #names = new Map<string, { holds: Set<Hold>; usedAt: number }>();

  constructor(max: number, keepMs = 30_000) {
    this.#max = max;
    this.#keepMs = keepMs;
  }

  /**
   * A run for `name` begins, answered for by `until` at the latest: its hold if it may use (or
   * make) the reused isolate, and the names whose isolates must be ended first (its own, if a run
   * in it was abandoned). Pair a hold with `leave`.
   */
  enter(name: string, until: number): { hold?: Hold; end: string[] } {
    const now = Date.now();
    const end: string[] = [];
    const entry = this.#names.get(name);
    if (entry !== undefined) {
      if (busy(entry.holds, now)) return { end };
      // A run that never settled left the isolate in an unknown state: it is made afresh.
      if (entry.holds.size > 0) end.push(name);
      this.#names.delete(name);
    } else {
      for (const [other, { holds, usedAt }] of this.#names) {
        if (this.#names.size - end.length < this.#max) break;
        if (!busy(holds, now) && now - usedAt >= this.#keepMs) end.push(other);
      }
      if (this.#names.size - end.length >= this.#max) return { end: [] };
      for (const other of end) this.#names.delete(other);
    }
    const hold: Hold = { name, until };
    this.#names.set(name, { holds: new Set([hold]), usedAt: now });
    return { hold, end };
  }

  /**
   * The run holding `hold` ended; `discard`: its isolate should not be kept. Answers whether to
   * end that isolate now.
   */
  leave(hold: Hold, discard: boolean): boolean {
    const entry = this.#names.get(hold.name);
    if (!entry?.holds.delete(hold)) return false;
    if (!discard) return false;
    this.#names.delete(hold.name);
    return true;
  }
}

/** Whether a run still holds the isolate: one whose caller is still waiting for it. */
function busy(holds: Set<Hold>, now: number): boolean {
  for (const hold of holds) if (hold.until >= now) return true;
  return false;
}
