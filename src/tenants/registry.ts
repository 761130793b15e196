// The tenant registry as the rest of the worker reaches it, and what this isolate keeps of it.
import { unavailable } from "../api/problem";
import { ExpiringCache } from "../cache";
import { REGISTRY } from "../config";
import type { EgressSecret } from "../egress/audit";
import type { Env } from "../env";

/** The registry's stub. */
export function registry(env: Env) {
  return env.TENANTS.getByName(REGISTRY);
}

/** How soon a client may try again when the registry did not answer. */
const REGISTRY_RETRY_SECONDS = 1;

/**
 * What a registry call answers. When the registry cannot answer, the request gets a 503 with
 * `Retry-After`: nothing was checked, so it is neither refused (401) nor a bug (500).
 */
export async function fromRegistry<T>(call: Promise<T>): Promise<T> {
  try {
    return await call;
  } catch (err) {
    console.error("the tenant registry did not answer:", err);
    throw unavailable(
      `the tenant registry did not answer; retry in ${REGISTRY_RETRY_SECONDS} s`,
      REGISTRY_RETRY_SECONDS,
    );
  }
}

/**
 * How long this isolate reuses a tenant's secrets. As short as the API key cache: the admin API
 * forgets them here at once, and other isolates learn of a change when their entry expires.
 */
const SECRETS_CACHE_MS = 1_000;
const SECRETS_CACHE_ENTRIES = 1_024;

const secretsCache = new ExpiringCache<string, EgressSecret[]>(
  SECRETS_CACHE_ENTRIES,
  SECRETS_CACHE_MS,
);

/** A tenant's secrets with their placeholders, for its executions' egress gateway. */
export function tenantSecrets(env: Env, tenant: string): Promise<EgressSecret[]> {
  return secretsCache.get(tenant, () => registry(env).egressSecrets(tenant));
}

/** Drops this isolate's copy of a tenant's secrets (after the admin API changed one). */
export function forgetTenantSecrets(tenant: string): void {
  secretsCache.delete(tenant);
}
