/**
 * Per-tenant request rate limiting: a token bucket kept by the tenant's `RateLimiter` object.
 * (Its execution slots and wall-time budget are taken and given back by `execution/lease.ts`.)
 *
 * Headers follow draft-ietf-httpapi-ratelimit-headers-10 (September 2025): a `RateLimit-Policy`
 * list item `"default";q=<quota>;w=<window seconds>` and a `RateLimit` item
 * `"default";r=<remaining>;t=<seconds>`, policy names as sf-Strings, `t` equal to `Retry-After` on
 * a 429 as the draft asks.
 *
 * Cost: a round trip to the limiter object per request would cost more than half of a warm
 * execution's throughput (measured). So an isolate takes tokens in batches and spends them
 * locally for at most `BATCH_MS`. The batch doubles while batches run out early and halves when
 * they lapse unspent, up to `1/BATCH_SHARE` of the bucket; unspent tokens go back with the next
 * take. A quiet tenant takes one token at a time, which is exact, and the bucket never grants
 * more than it holds.
 */
import type { MiddlewareHandler } from "hono";
import type { Grant } from "../../../durable-objects/rate-limiter";
import { Problem } from "../../api/problem";
import type { AppEnv, Env } from "../../env";
import { effectiveLimits, type Limits } from "../../schemas/policy";

/** How long an isolate may spend tokens it took: bounds how stale its view of the bucket gets. */
const BATCH_MS = 1_000;
/** One isolate takes at most this fraction of the bucket at once, leaving tokens for the others. */
const BATCH_SHARE = 8;
/** Past this many tenants, buckets and slot pools no request is using are dropped. */
export const MAX_TENANTS = 10_000;

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
 * Counts each request of the scope it is mounted on against the tenant's `rate` and `burst`,
 * answers 429 past them, and puts `RateLimit` and `RateLimit-Policy` on every answer. Runs after
 * `tenantAuth`.
 */
export function rateLimit(): MiddlewareHandler<AppEnv> {
  return async function rateLimit(c, next) {
    if (c.env.CORDON_RATE_LIMIT === "off") return next();
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

/** The 429 problem for a request over one of the tenant's limits. */
export function rateLimited(
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
