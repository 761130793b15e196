/**
 * Per-tenant rate limiting: a request token bucket, execution slots (`concurrency`) and a
 * wall-time budget, kept by the tenant's `RateLimiter` object.
 *
 * Headers follow draft-ietf-httpapi-ratelimit-headers-10 (September 2025): a `RateLimit-Policy`
 * list item `"default";q=<quota>;w=<window seconds>` and a `RateLimit` item
 * `"default";r=<remaining>;t=<seconds>`, policy names as sf-Strings, `t` equal to `Retry-After` on
 * a 429 as the draft asks.
 *
 * Cost: a round trip to the limiter object per request, or two per execution, would cost more
 * than half of a warm execution's throughput (measured). So an isolate works from local
 * allowances and syncs with the object now and then:
 * - Tokens are taken in batches and spent locally for at most `BATCH_MS`. The batch doubles while
 *   batches run out early and halves when they lapse unspent, up to `1/BATCH_SHARE` of the
 *   bucket; unspent tokens go back with the next take. A quiet tenant takes one token at a time,
 *   which is exact, and the bucket never grants more than it holds.
 * - Execution slots are held per isolate: the isolate reserves a few at once and starts
 *   executions in them without asking for `HOLD_MS`; it syncs again after that (holding what it
 *   uses plus headroom) and `HOLD_MS` after going idle (returning every slot). Wall time is
 *   charged with each sync. The object never lets the isolates together hold more than
 *   `concurrency`; an isolate can at worst keep spare slots from another for about `HOLD_MS`.
 *   An isolate's row lapses `ROW_TTL_MS` after its last sync, and executions running longer
 *   renew it every `RENEW_MS`, so the slots of an isolate that died (or could not give them
 *   back) are free again within `ROW_TTL_MS`, whatever the tenant's timeout.
 */
import type { Context, MiddlewareHandler } from "hono";
import type { Grant, Reservation } from "../../../durable-objects/rate-limiter";
import { Problem } from "../../api/problem";
import type { Env } from "../../env";
import { effectiveLimits, type Limits } from "../../schemas/policy";
import { type AuthVariables, isAdminPath } from "../auth";

type RateLimitEnv = { Bindings: Env; Variables: AuthVariables };

/** How long an isolate may spend tokens it took: bounds how stale its view of the bucket gets. */
const BATCH_MS = 1_000;
/** One isolate takes at most this fraction of the bucket at once, leaving tokens for the others. */
const BATCH_SHARE = 8;
/** How long an isolate starts executions in slots it holds before it syncs with the limiter. */
const HOLD_MS = 1_000;
/** How often a running execution has its isolate's row renewed, if nothing else synced since. */
const RENEW_MS = 5_000;
/**
 * How long an isolate's row outlives its last sync: three renewals, so one or two that fail (or
 * an execution that started up to `HOLD_MS` after the sync) never let a running slot lapse.
 */
const ROW_TTL_MS = 3 * RENEW_MS;
/**
 * The longest timeout an execution may have and still need no renewal: started at most
 * `HOLD_MS` after its isolate's last sync, it ends (timeout, grace, the kill path, a large
 * compile: 3 s allowed for those) before the row lapses. Most executions (10 s by default) run
 * without a renewal timer of their own.
 */
const UNRENEWED_MAX_MS = ROW_TTL_MS - HOLD_MS - 3_000;
/** Past this many tenants, buckets and slot pools no request is using are dropped. */
const MAX_TENANTS = 10_000;

interface LocalBucket {
  /** Tokens this isolate took and may spend until `until`. */
  tokens: number;
  until: number;
  /** How many tokens the last take asked for. */
  batch: number;
  /** The limiter's level right after the last take, and when it would be full again. */
  left: number;
  fullAt: number;
  rate: number;
  burst: number;
  /** The take in flight: other requests of this tenant wait for it instead of sending their own. */
  refill?: Promise<Grant>;
}

/** Per-isolate token batches, by tenant. */
const buckets = new Map<string, LocalBucket>();

interface Verdict {
  ok: boolean;
  remaining: number;
  resetSeconds: number;
}

/** The tenant's limiter; a missing tenant is a bug, never a shared "" limiter. */
export function limiterFor(env: Env, tenant: string) {
  if (!tenant) throw new Error("rate limiting needs a tenant id");
  return env.RATE_LIMITER.getByName(tenant);
}

/**
 * Requests the worker sends to itself for a request it counted already (the `/v1` call an MCP
 * tool makes). The mark is the object itself, which no client can make or forge.
 */
const countedAlready = new WeakSet<Request>();

/** Marks `request`, made by the worker for a request it counted already, as not to count again. */
export function countedElsewhere(request: Request): Request {
  countedAlready.add(request);
  return request;
}

/**
 * Counts every authenticated non-admin request against the tenant's `rate` and `burst`, answers
 * 429 past them, and puts `RateLimit` and `RateLimit-Policy` on every answer. Runs after
 * `tenantAuth`.
 */
export function rateLimit(): MiddlewareHandler<RateLimitEnv> {
  return async function rateLimit(c, next) {
    if (isAdminPath(c.req.path) || c.env.CORDON_RATE_LIMIT === "off") return next();
    if (countedAlready.has(c.req.raw)) return next();
    const tenant = c.get("tenant");
    const limits = effectiveLimits(c.get("policy"));
    const verdict = await takeToken(c.env, tenant, limits);
    const headers = rateLimitHeaders(verdict, limits);
    if (!verdict.ok) {
      throw rateLimited(
        `more than ${limits.burst} requests at once or ${limits.rate} per second`,
        "rate",
        verdict.resetSeconds,
        headers,
      );
    }
    await next();
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value);
  };
}

/**
 * A held execution slot. `release` is idempotent, never throws, and must be awaited when the
 * execution ends.
 */
export interface ExecutionLease {
  release(wallMs: number): Promise<void>;
}

interface SlotPool {
  /** Executions of the tenant running in this isolate. */
  inFlight: number;
  /** Slots the limiter lets this isolate hold (normally at least `inFlight`). */
  held: number;
  /** Executions start in held slots without a sync only before this. */
  renewAt: number;
  /** When the last sync succeeded: its row lapses `ROW_TTL_MS` later. */
  syncedAt: number;
  /** Wall time spent here and not yet charged to the limiter. */
  wallMs: number;
  /** The sync in flight: other executions of this tenant wait for it instead of sending their own. */
  sync?: Promise<Reservation>;
  /** Whether a return of the slots after going idle is scheduled. */
  idleReturn: boolean;
}

/** Per-isolate execution slots, by tenant. */
const pools = new Map<string, SlotPool>();

/** This isolate's name as a slot holder; made on first use (no randomness at global scope). */
let holderId: string | undefined;

/**
 * Takes one of the tenant's `concurrency` execution slots, or throws a 429 problem at once when
 * all are taken or the minute's wall-time budget is spent. `timeoutMs` is the execution's: a long
 * one has its isolate's row renewed while it runs.
 */
export async function acquireExecutionLease(
  c: Context<RateLimitEnv>,
  timeoutMs: number,
): Promise<ExecutionLease> {
  if (c.env.CORDON_RATE_LIMIT === "off") return { release: async () => {} };
  const tenant = c.get("tenant");
  if (!tenant) throw new Error("an execution slot needs a tenant id");
  const limits = effectiveLimits(c.get("policy"));
  const env = c.env;
  const pool = poolFor(tenant);
  for (;;) {
    if (pool.sync) {
      // Its failure is that request's to report; this one then syncs itself.
      await pool.sync.catch(() => undefined);
      continue;
    }
    if (pool.inFlight < pool.held && Date.now() < pool.renewAt) break;
    const reservation = await syncSlots(env, tenant, pool, limits, 1);
    if (pool.inFlight < pool.held) break;
    const retry = Math.max(1, Math.ceil(reservation.retryAfterMs / 1000));
    throw reservation.limitedBy === "wall-time"
      ? rateLimited(
          `this tenant spent its ${limits.wallMsPerMinute} ms of execution wall time per minute`,
          "wallMsPerMinute",
          retry,
        )
      : rateLimited(
          `${reservation.held} executions are in flight, the most this tenant may run at once`,
          "concurrency",
          retry,
        );
  }
  pool.inFlight += 1;

  // A timer of this request: it lives as long as the execution does, and no longer.
  const renewal =
    timeoutMs > UNRENEWED_MAX_MS
      ? setInterval(() => {
          if (pool.sync || Date.now() < pool.syncedAt + RENEW_MS) return;
          // Nobody awaits a renewal: it only moves the row's expiry, and a failure is logged.
          void syncSlots(env, tenant, pool, limits, 0).catch((err: unknown) => {
            console.error(`renewing the execution slots of tenant ${tenant} failed:`, err);
          });
        }, RENEW_MS)
      : undefined;
  let released = false;
  return {
    async release(wallMs) {
      if (released) return;
      released = true;
      clearInterval(renewal);
      pool.inFlight -= 1;
      pool.wallMs += Math.max(0, wallMs);
      // A sync under way already carries newer numbers than these; the next one reports them.
      if (pool.sync) return;
      if (pool.inFlight === 0) {
        scheduleIdleReturn(c, tenant, pool, limits);
        return;
      }
      // Shrinking only on schedule: load that swings would otherwise sync on every swing.
      if (Date.now() < pool.renewAt) return;
      try {
        await syncSlots(env, tenant, pool, limits, 0);
      } catch (err) {
        // The execution finished and its answer must go out. The slot is free here already; the
        // limiter learns of it at the next sync, or this isolate's row lapses (ROW_TTL_MS).
        console.error(`releasing an execution slot of tenant ${tenant} failed:`, err);
      }
    },
  };
}

/** Slots to hold beyond those in use, so the next executions start without a round trip. */
function headroom(inUse: number): number {
  return Math.ceil(inUse / 2);
}

function poolFor(tenant: string): SlotPool {
  let pool = pools.get(tenant);
  if (!pool) {
    if (pools.size >= MAX_TENANTS) {
      for (const [name, p] of pools) {
        if (p.inFlight === 0 && p.held === 0 && !p.sync && !p.idleReturn) pools.delete(name);
      }
    }
    pool = { inFlight: 0, held: 0, renewAt: 0, syncedAt: 0, wallMs: 0, idleReturn: false };
    pools.set(tenant, pool);
  }
  return pool;
}

/** Reports this isolate's slots in use and wall time to the limiter and takes what it grants. */
async function syncSlots(
  env: Env,
  tenant: string,
  pool: SlotPool,
  limits: Limits,
  adding: number,
): Promise<Reservation> {
  holderId ??= crypto.randomUUID();
  const wallMs = pool.wallMs;
  pool.wallMs = 0;
  const inUse = pool.inFlight;
  const want = inUse === 0 && adding === 0 ? 0 : inUse + adding + headroom(inUse + adding);
  const sync = limiterFor(env, tenant).reserve(
    holderId,
    { inUse, want, wallMs },
    { concurrency: limits.concurrency, wallMsPerMinute: limits.wallMsPerMinute },
    ROW_TTL_MS,
  );
  pool.sync = sync;
  try {
    const reservation = await sync;
    pool.held = reservation.slots;
    pool.syncedAt = Date.now();
    pool.renewAt = pool.syncedAt + HOLD_MS;
    return reservation;
  } catch (err) {
    // Not charged this time, so charged with the next sync.
    pool.wallMs += wallMs;
    throw err;
  } finally {
    pool.sync = undefined;
  }
}

/**
 * Returns an idle isolate's slots `HOLD_MS` after its last execution ended, unless another
 * started meanwhile, so sequential executions reuse a slot while idle ones free it for others.
 */
function scheduleIdleReturn(
  c: Context<RateLimitEnv>,
  tenant: string,
  pool: SlotPool,
  limits: Limits,
) {
  if (pool.idleReturn) return;
  let ctx: typeof c.executionCtx;
  try {
    ctx = c.executionCtx;
  } catch {
    // No execution context (the app called directly): the slots lapse with their row instead.
    return;
  }
  pool.idleReturn = true;
  const env = c.env;
  ctx.waitUntil(
    (async () => {
      await scheduler.wait(HOLD_MS);
      pool.idleReturn = false;
      if (pool.inFlight > 0 || pool.sync || (pool.held === 0 && pool.wallMs === 0)) return;
      try {
        await syncSlots(env, tenant, pool, limits, 0);
      } catch (err) {
        console.error(`returning idle execution slots of tenant ${tenant} failed:`, err);
      }
    })(),
  );
}

async function takeToken(env: Env, tenant: string, limits: Limits): Promise<Verdict> {
  const maxBatch = Math.max(1, Math.floor(limits.burst / BATCH_SHARE));
  for (;;) {
    const now = Date.now();
    const held = buckets.get(tenant);
    const current = held && held.rate === limits.rate && held.burst === limits.burst;
    if (held && current && held.tokens >= 1 && now < held.until) {
      held.tokens -= 1;
      return spent(held, now);
    }
    if (held?.refill) {
      // Its failure is that request's to report; this one then takes tokens itself.
      await held.refill.catch(() => undefined);
      continue;
    }

    // Tokens that lapsed or were taken under other limits go back. A batch spent before it
    // lapsed means demand is high, so the next is larger; one that lapsed unspent, smaller.
    const lapsed = held !== undefined && (!current || now >= held.until);
    const giveBack = lapsed ? held.tokens : 0;
    const previous = held?.batch ?? 1;
    const sized =
      !lapsed && held ? previous * 2 : giveBack > 0 ? Math.ceil(previous / 2) : previous;
    const batch = Math.min(maxBatch, Math.max(1, sized));
    const entry: LocalBucket = {
      tokens: 0,
      until: 0,
      batch,
      left: held?.left ?? limits.burst,
      fullAt: held?.fullAt ?? now,
      rate: limits.rate,
      burst: limits.burst,
    };
    const refill = limiterFor(env, tenant).take(
      { rate: limits.rate, burst: limits.burst },
      batch,
      giveBack,
    );
    entry.refill = refill;
    remember(tenant, entry, now);
    let grant: Grant;
    try {
      grant = await refill;
    } finally {
      entry.refill = undefined;
    }
    const after = Date.now();
    entry.left = grant.left;
    entry.fullAt = after + grant.fullInMs;
    entry.until = after + BATCH_MS;
    if (grant.granted === 0) {
      return {
        ok: false,
        remaining: 0,
        resetSeconds: Math.max(1, Math.ceil(grant.retryAfterMs / 1000)),
      };
    }
    // One of the granted tokens is this request's own.
    entry.tokens = grant.granted - 1;
    return spent(entry, after);
  }
}

function spent(bucket: LocalBucket, now: number): Verdict {
  const remaining = Math.max(0, Math.floor(bucket.tokens + bucket.left));
  return {
    ok: true,
    remaining,
    resetSeconds: Math.max(0, Math.ceil((bucket.fullAt - now) / 1000)),
  };
}

function remember(tenant: string, entry: LocalBucket, now: number): void {
  buckets.delete(tenant);
  if (buckets.size >= MAX_TENANTS) {
    for (const [name, bucket] of buckets) {
      if (!bucket.refill && bucket.until <= now) buckets.delete(name);
    }
  }
  buckets.set(tenant, entry);
}

function rateLimitHeaders(verdict: Verdict, limits: Limits): Record<string, string> {
  return {
    RateLimit: `"default";r=${verdict.remaining};t=${verdict.resetSeconds}`,
    "RateLimit-Policy": `"default";q=${limits.burst};w=1`,
  };
}

function rateLimited(
  detail: string,
  limit: "rate" | "concurrency" | "wallMsPerMinute",
  retryAfterSeconds: number,
  headers: Record<string, string> = {},
): Problem {
  return new Problem(
    429,
    "rate-limited",
    "Too many requests",
    `${detail}; retry in ${retryAfterSeconds} s`,
    { limit, retryAfter: retryAfterSeconds },
    { "retry-after": String(retryAfterSeconds), ...headers },
  );
}

/** True if the client asked for server-sent events. */
export function wantsEventStream(accept: string | undefined): boolean {
  return /(^|,)\s*text\/event-stream\s*(;|,|$)/i.test(accept ?? "");
}
