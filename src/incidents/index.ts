import { Problem } from "../api/problem";
import { sha256Hex } from "../bytes";
import { Lru } from "../cache";
import { DEFAULT_QUARANTINE_SECONDS, INCIDENTS } from "../config";
import type { Env } from "../env";

/** How long code that took a runtime down is refused (CORDON_QUARANTINE_SECONDS). */
function quarantineMs(env: Env): number {
  return Number(env.CORDON_QUARANTINE_SECONDS ?? DEFAULT_QUARANTINE_SECONDS) * 1000;
}

/**
 * How long this isolate trusts its copy of the quarantine list. Other control-plane isolates
 * (every isolate on Cloudflare) record quarantines too; this is how late one of theirs is seen.
 */
export const QUARANTINE_REFRESH_MS = 2_000;

/** The quarantine is kept per tenant: another tenant's identical code is not refused. */
const quarantineKey = (tenant: string, hash: string) => `${tenant}\n${hash}`;

interface QuarantineCopy {
  /** Until when (ms since epoch) each (tenant, code hash) is refused; only unexpired entries. */
  until: Map<string, number>;
  loadedAt: number;
}

// This isolate's copy of the quarantine list, so the check costs nothing on the hot path. It is
// replaced by a fresh load every QUARANTINE_REFRESH_MS, which also drops entries that expired.
let copy: QuarantineCopy | undefined;

async function load(env: Env): Promise<Map<string, number>> {
  const rows = await env.INCIDENTS.getByName(INCIDENTS).quarantined();
  return new Map(rows.map((row) => [quarantineKey(row.tenant, row.codeHash), row.until]));
}

async function quarantined(env: Env): Promise<Map<string, number>> {
  const now = Date.now();
  if (!copy) {
    copy = { until: await load(env), loadedAt: now };
    return copy.until;
  }
  if (now - copy.loadedAt < QUARANTINE_REFRESH_MS) return copy.until;
  // One request refreshes, awaiting its own call (a pending call shared with other requests
  // would die with the request that made it); the others use the current copy meanwhile.
  const current = copy;
  current.loadedAt = now;
  try {
    const fresh = await load(env);
    // Entries this isolate recorded while the load was under way are kept.
    for (const [key, until] of current.until) {
      if (until > Date.now() && (fresh.get(key) ?? 0) < until) fresh.set(key, until);
    }
    copy = { until: fresh, loadedAt: now };
  } catch {
    // The stale copy still refuses what it knew; the next request tries again.
    current.loadedAt = 0;
  }
  return (copy ?? current).until;
}

/** The hash incidents and the quarantine know code by: SHA-256 of the language and the code. */
export async function codeHash(language: string, code: string): Promise<string> {
  const text = `${language}\n${code}`;
  const cached = hashes.get(text);
  if (cached !== undefined) return cached;
  const hash = await sha256Hex(text);
  if (text.length <= CACHED_CODE_CHARS) hashes.set(text, hash);
  return hash;
}

// Code sent again (what agents mostly do) is hashed once; only short code is kept as a key, so
// the cache stays small whatever is sent.
const CACHED_CODE_CHARS = 4096;
const hashes = new Lru<string, string>(1024);

/** Throws a 403 `code-quarantined` problem if this tenant's code took a runtime down recently. */
export async function refuseQuarantined(env: Env, tenant: string, hash: string): Promise<void> {
  const until = (await quarantined(env)).get(quarantineKey(tenant, hash));
  if (until === undefined || until <= Date.now()) return;
  throw new Problem(
    403,
    "code-quarantined",
    "Code quarantined",
    `this code took a runtime down recently and is refused for this tenant until ${new Date(until).toISOString()}`,
    { codeHash: hash },
  );
}

/** Records a hostile execution; `takesRuntimeDown` also quarantines its code for its tenant. */
export async function recordIncident(
  env: Env,
  tenant: string,
  hash: string,
  reason: string,
  takesRuntimeDown: boolean,
): Promise<void> {
  const ms = takesRuntimeDown ? quarantineMs(env) : 0;
  if (ms > 0) (await quarantined(env)).set(quarantineKey(tenant, hash), Date.now() + ms);
  await env.INCIDENTS.getByName(INCIDENTS).record(tenant, hash, reason, ms);
}
