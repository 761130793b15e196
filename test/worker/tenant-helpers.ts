import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { call } from "./helpers";

/** The admin token the worker project is configured with (vitest.config.ts). */
export const ADMIN_TOKEN = "test-admin-token-0123456789";

/** Calls an admin route with the admin token (or the `authorization` given in `init`). */
export function admin(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (!headers.has("authorization")) headers.set("authorization", `Bearer ${ADMIN_TOKEN}`);
  if (init.body !== undefined && !headers.has("content-type")) {
    headers.set("content-type", "application/json");
  }
  return call(`/v1/admin${path}`, { ...init, headers });
}

/** A tenant id no other test uses, so tests never share a registry entry or a limiter. */
export function uniqueTenantId(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/** Creates a tenant through the admin API and returns its id and first key. */
export async function createTenant(
  prefix: string,
  policy?: Record<string, unknown>,
): Promise<{ id: string; apiKey: string; keyId: string }> {
  const id = uniqueTenantId(prefix);
  const res = await admin("/tenants", { method: "POST", body: JSON.stringify({ id, policy }) });
  if (res.status !== 201) throw new Error(`creating ${id}: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; apiKey: string; keyId: string };
}

/** Calls a tenant route with a tenant's API key. */
export function asTenant(apiKey: string, path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set("authorization", `Bearer ${apiKey}`);
  if (init.body !== undefined && !headers.has("content-type")) {
    headers.set("content-type", "application/json");
  }
  return call(path, { ...init, headers });
}

/** Runs code as a tenant through `POST /v1/execute`. */
export function executeAs(apiKey: string, code: string): Promise<Response> {
  return asTenant(apiKey, "/v1/execute", { method: "POST", body: JSON.stringify({ code }) });
}

/** The tenant's rate limiter object. */
export function limiterOf(tenant: string) {
  return env.RATE_LIMITER.getByName(tenant);
}

/**
 * Moves the tenant limiter's clock `ms` forward: every instant it stored (bucket and budget
 * levels, slot expiries) moves `ms` into the past, which is what the object sees when `ms` pass.
 */
export async function advanceLimiterClock(tenant: string, ms: number): Promise<void> {
  await runInDurableObject(limiterOf(tenant), (_instance, state) => {
    state.storage.sql.exec("UPDATE state SET at = at - ?, wall_at = wall_at - ?", ms, ms);
    state.storage.sql.exec("UPDATE holders SET expires_at = expires_at - ?", ms);
  });
}
