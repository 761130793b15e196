import { DurableObject } from "cloudflare:workers";
import type { Env } from "../src/env";

/** The request bucket's shape: refill per second and size. */
export interface BucketLimits {
  rate: number;
  burst: number;
}

/** What `take` granted and where the bucket stands afterwards. */
export interface Grant {
  /** Tokens granted, between 0 and what was asked for. */
  granted: number;
  /** Tokens left in the bucket after this grant (fractional). */
  left: number;
  /** Milliseconds until one token is back; 0 while any is left. */
  retryAfterMs: number;
  /** Milliseconds until the bucket is full again. */
  fullInMs: number;
}

/** The execution limits a lease is checked against. */
export interface LeaseLimits {
  concurrency: number;
  wallMsPerMinute: number;
}

/** What a holder (one isolate) reports and asks for when it syncs its execution slots. */
export interface SlotRequest {
  /** Executions the holder is running now: always counted, whatever the limit says. */
  inUse: number;
  /** Slots it would like to hold, `inUse` included. */
  want: number;
  /** Execution wall time it spent since its last sync, to charge to the minute's budget. */
  wallMs: number;
}

/** The slots a holder may now use, and what capped them below its request. */
export interface Reservation {
  slots: number;
  /** Which limit kept `slots` under `want`, if one did. */
  limitedBy: "concurrency" | "wall-time" | null;
  /** When `limitedBy` is set: a hint of when asking again may succeed. */
  retryAfterMs: number;
  /** Slots held by every holder after this call. */
  held: number;
}

/** A holder's slots can never outlive this, whatever it asks for. */
const MAX_HOLD_MS = 10 * 60_000;

/**
 * One per tenant (named by tenant id): a token bucket for requests, execution slots for
 * `concurrency`, and a wall-time budget refilled over each minute. Limits come with every call,
 * so a policy change applies from the next call on without this object asking the registry.
 *
 * Slots are held by holders (one per isolate), each row with an expiry, so a holder that dies
 * never leaks capacity. A holder takes several slots at once and starts executions in them
 * without asking again; the sum over holders never exceeds `concurrency` (except for executions
 * already running when a limit was lowered, which are reported and counted, never hidden).
 */
export class RateLimiter extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      // The returned promise only gates delivery of the first call; nothing else waits on it.
      this.#sql.exec(`
        CREATE TABLE IF NOT EXISTS state (
          id INTEGER PRIMARY KEY CHECK (id = 1),
          tokens REAL,
          at INTEGER NOT NULL,
          wall REAL,
          wall_at INTEGER NOT NULL
        );
        CREATE TABLE IF NOT EXISTS holders (
          holder TEXT PRIMARY KEY,
          slots INTEGER NOT NULL,
          expires_at INTEGER NOT NULL
        );
      `);
    });
  }

  /**
   * Takes up to `want` request tokens. `giveBack` returns tokens an earlier grant left unspent,
   * so a caller that takes tokens in batches does not shrink the tenant's allowance.
   */
  async take(limits: BucketLimits, want: number, giveBack = 0): Promise<Grant> {
    const now = Date.now();
    const rate = limits.rate;
    const state = this.#load();
    let tokens = refill(state.tokens, state.at, limits.burst, limits.rate / 1000, now);
    tokens = Math.min(limits.burst, tokens + Math.max(0, giveBack));
    const granted = Math.max(0, Math.min(Math.floor(want), Math.floor(tokens)));
    tokens -= granted;
    this.#save({ ...state, tokens, at: now });
    return {
      granted,
      left: tokens,
      retryAfterMs: tokens >= 1 ? 0 : Math.ceil(((1 - tokens) * 1000) / rate),
      fullInMs: Math.ceil(((limits.burst - tokens) * 1000) / rate),
    };
  }

  /**
   * Sets how many execution slots `holder` holds: what it reports in use, plus what it wants on
   * top when the limits allow. Charges its wall time first, so a spent budget refuses new slots
   * in the same call. The row lapses after `ttlMs` unless the holder syncs again.
   */
  async reserve(
    holder: string,
    request: SlotRequest,
    limits: LeaseLimits,
    ttlMs: number,
  ): Promise<Reservation> {
    if (!holder) throw new Error("a slot holder needs an id");
    const now = Date.now();
    const state = this.#load();
    const wall = refillWall(state, limits, now) - Math.max(0, request.wallMs);
    this.#save({ ...state, wall, wallAt: now });

    this.#sql.exec("DELETE FROM holders WHERE expires_at <= ?", now);
    const others = this.#sql
      .exec<{ n: number }>(
        "SELECT COALESCE(SUM(slots), 0) AS n FROM holders WHERE holder != ?",
        holder,
      )
      .one().n;
    const inUse = Math.max(0, Math.floor(request.inUse));
    const want = Math.max(inUse, Math.floor(request.want));
    let slots = Math.max(inUse, Math.min(want, limits.concurrency - others));
    let limitedBy: Reservation["limitedBy"] = slots < want ? "concurrency" : null;
    // Nothing says when a holder finishes; a second is a polite guess, not a promise.
    let retryAfterMs = limitedBy ? 1000 : 0;
    if (wall <= 0 && want > inUse) {
      slots = inUse;
      limitedBy = "wall-time";
      retryAfterMs = Math.ceil((1 - wall) / (limits.wallMsPerMinute / 60_000));
    }

    if (slots > 0) {
      const expires = now + Math.min(Math.max(ttlMs, 1), MAX_HOLD_MS);
      this.#sql.exec(
        "INSERT INTO holders (holder, slots, expires_at) VALUES (?, ?, ?) ON CONFLICT(holder) DO UPDATE SET slots = excluded.slots, expires_at = excluded.expires_at",
        holder,
        slots,
        expires,
      );
    } else {
      this.#sql.exec("DELETE FROM holders WHERE holder = ?", holder);
    }
    return { slots, limitedBy, retryAfterMs, held: others + slots };
  }

  /** Slots held by holders whose rows have not lapsed. */
  async slotsHeld(): Promise<number> {
    this.#sql.exec("DELETE FROM holders WHERE expires_at <= ?", Date.now());
    return this.#sql.exec<{ n: number }>("SELECT COALESCE(SUM(slots), 0) AS n FROM holders").one()
      .n;
  }

  /** The one `state` row; `tokens` and `wall` are null until first used, which means full. */
  #load(): State {
    const row = this.#sql
      .exec<{ tokens: number | null; at: number; wall: number | null; wall_at: number }>(
        "SELECT tokens, at, wall, wall_at FROM state WHERE id = 1",
      )
      .toArray()[0];
    return row
      ? { tokens: row.tokens, at: row.at, wall: row.wall, wallAt: row.wall_at }
      : { tokens: null, at: 0, wall: null, wallAt: 0 };
  }

  #save({ tokens, at, wall, wallAt }: State): void {
    this.#sql.exec(
      "INSERT INTO state (id, tokens, at, wall, wall_at) VALUES (1, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET tokens = excluded.tokens, at = excluded.at, wall = excluded.wall, wall_at = excluded.wall_at",
      tokens,
      at,
      wall,
      wallAt,
    );
  }
}

interface State {
  tokens: number | null;
  at: number;
  wall: number | null;
  wallAt: number;
}

/** A bucket's level at `now`, refilled at `perMs` up to `size` since it was last written at `at`. */
function refill(
  level: number | null,
  at: number,
  size: number,
  perMs: number,
  now: number,
): number {
  if (level === null) return size;
  return Math.min(size, level + Math.max(0, now - at) * perMs);
}

function refillWall(state: State, limits: LeaseLimits, now: number): number {
  const size = limits.wallMsPerMinute;
  return refill(state.wall, state.wallAt, size, size / 60_000, now);
}
