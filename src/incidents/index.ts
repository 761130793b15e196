import { INCIDENTS } from "../../durable-objects/incidents";
import { Problem } from "../api/problem";
import { Lru } from "../cache";
import type { Env } from "../env";

/** How long code that took a runtime down is refused (CORDON_QUARANTINE_SECONDS, default 10 min). */
function quarantineMs(env: Env): number {
  return Number(env.CORDON_QUARANTINE_SECONDS ?? 600) * 1000;
}

// Quarantined code hashes, loaded once per isolate from the Incidents object and kept in step
// with what this isolate records, so the check costs nothing on the hot path.
let quarantine: Promise<Map<string, number>> | undefined;

function quarantined(env: Env): Promise<Map<string, number>> {
  quarantine ??= env.INCIDENTS.getByName(INCIDENTS)
    .quarantined()
    .then((rows) => new Map(rows.map((row) => [row.codeHash, row.until])))
    .catch((err: unknown) => {
      quarantine = undefined;
      throw err;
    });
  return quarantine;
}

const encoder = new TextEncoder();

/** The hash incidents and the quarantine know code by: SHA-256 of the language and the code. */
export async function codeHash(language: string, code: string): Promise<string> {
  const text = `${language}\n${code}`;
  const cached = hashes.get(text);
  if (cached !== undefined) return cached;
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
  const hash = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
  if (text.length <= CACHED_CODE_CHARS) hashes.set(text, hash);
  return hash;
}

// Code sent again (what agents mostly do) is hashed once; only short code is kept as a key, so
// the cache stays small whatever is sent.
const CACHED_CODE_CHARS = 4096;
const hashes = new Lru<string, string>(1024);

/** Throws a 403 `code-quarantined` problem if this code took a runtime down recently. */
export async function refuseQuarantined(env: Env, hash: string): Promise<void> {
  const until = (await quarantined(env)).get(hash);
  if (until === undefined || until <= Date.now()) return;
  throw new Problem(
    403,
    "code-quarantined",
    "Code quarantined",
    `this code took a runtime down recently and is refused until ${new Date(until).toISOString()}`,
    { codeHash: hash },
  );
}

/** Records a hostile execution; `takesRuntimeDown` also quarantines its code. */
export async function recordIncident(
  env: Env,
  tenant: string,
  hash: string,
  reason: string,
  takesRuntimeDown: boolean,
): Promise<void> {
  const ms = takesRuntimeDown ? quarantineMs(env) : 0;
  if (ms > 0) (await quarantined(env)).set(hash, Date.now() + ms);
  await env.INCIDENTS.getByName(INCIDENTS).record(tenant, hash, reason, ms);
}
