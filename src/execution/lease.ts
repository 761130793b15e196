/**
 * Execution slots: the tenant's `concurrency` and its wall-time budget, kept by the tenant's
 * `RateLimiter` object. This module owns a slot's whole life: taken once the request's body has
 * been read and checked, renewed while a long execution runs, given back when it ends.
 *
 * Cost: a round trip to the limiter object per execution would cost more than half of a warm
 * execution's throughput (measured). So slots are held per isolate: the isolate reserves a few at
 * once and starts executions in them without asking for `HOLD_MS`; it syncs again after that
 * (holding what it uses plus headroom) and `HOLD_MS` after going idle (returning every slot).
 * Wall time is charged with each sync. The object never lets the isolates together hold more
 * than `concurrency`; an isolate can at worst keep spare slots from another for about `HOLD_MS`.
 * An isolate's row lapses `ROW_TTL_MS` after its last sync, and executions running longer renew
 * it every `RENEW_MS`, so the slots of an isolate that died (or could not give them back) are
 * free again within `ROW_TTL_MS`, whatever the tenant's timeout.
 */
import type { Reservation } from "../../durable-objects/rate-limiter";
import type { AppContext, Env } from "../env";
import { limiterFor, MAX_TENANTS, rateLimited } from "../middleware/rate-limit";
import { effectiveLimits, type Limits } from "../schemas/policy";

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

/** One of the tenant's execution slots, taken and not yet used. */
export interface ExecutionLease {
  /**
   * Runs `work` in the slot, then gives the slot back and charges the wall time it took. Call it
   * once: the slot is held until then. Giving the slot back never throws.
   */
  hold<T>(work: () => Promise<T>): Promise<T>;
}

/** The lease when rate limiting is off (`CORDON_RATE_LIMIT=off`, for the bench). */
const UNLIMITED: ExecutionLease = { hold: (work) => work() };

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
export async function acquireLease(c: AppContext, timeoutMs: number): Promise<ExecutionLease> {
  if (c.env.CORDON_RATE_LIMIT === "off") return UNLIMITED;
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
  const release = async (wallMs: number) => {
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
  };
  let held = false;
  return {
    async hold(work) {
      if (held) throw new Error("an execution lease is held once");
      held = true;
      const started = Date.now();
      try {
        return await work();
      } finally {
        await release(Date.now() - started);
      }
    },
  };
}

/** Runs `work` in one of the tenant's execution slots (a 429 problem when none is free). */
export async function withLease<T>(
  c: AppContext,
  timeoutMs: number,
  work: () => Promise<T>,
): Promise<T> {
  return (await acquireLease(c, timeoutMs)).hold(work);
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
function scheduleIdleReturn(c: AppContext, tenant: string, pool: SlotPool, limits: Limits) {
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
