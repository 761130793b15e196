import { z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { ResolvedKey } from "../../../durable-objects/tenants";
import { notFound, Problem, unauthorized } from "../../api/problem";
import { ExpiringCache } from "../../cache";
import type { AppEnv, Env } from "../../env";
import { Policy, type PolicyBody, Secret, SecretName } from "../../schemas/policy";
import { hashApiKey } from "../../tenants/keys";
import { fromRegistry, registry } from "../../tenants/registry";
import { TOKEN_PREFIX, verifySessionToken } from "./session-token";

/**
 * How long this isolate trusts what the registry said about a key. Short, because an isolate
 * other than the one that served a revocation only learns of it when its entry expires.
 */
const KEY_CACHE_MS = 1_000;
const KEY_CACHE_ENTRIES = 4_096;

/**
 * Per-isolate cache of key hash → tenant. Keyed by the SHA-256 of the key, never the key: the
 * lookup's timing then says nothing useful about any key, and no key value sits in memory.
 * Unknown keys are cached too: keys are random, so one cannot become valid later unless the
 * registry made it, and then `forgetTenantKeys` runs here or the entry expires.
 */
const keyCache = new ExpiringCache<string, ResolvedKey | null>(KEY_CACHE_ENTRIES, KEY_CACHE_MS);

/** Tenant policies for session tokens (null: the tenant is gone), kept as briefly as keys. */
const policyCache = new ExpiringCache<string, PolicyBody | null>(KEY_CACHE_ENTRIES, KEY_CACHE_MS);

/**
 * Drops what this isolate cached about a tenant's keys and policy, so a revoked key answers 401
 * and a new policy applies from the very next request served here.
 */
export function forgetTenantKeys(tenant: string): void {
  policyCache.delete(tenant);
  keyCache.deleteWhere((resolved) => resolved?.tenant === tenant);
}

/** The tenant an API key belongs to, from this isolate's cache or the registry. */
export async function resolveApiKey(env: Env, apiKey: string): Promise<ResolvedKey | null> {
  const hash = await hashApiKey(apiKey);
  return keyCache.get(hash, () => fromRegistry(registry(env).resolveKey(apiKey)));
}

/** A tenant's policy, from this isolate's cache or the registry. */
function tenantPolicy(env: Env, tenant: string): Promise<PolicyBody | null> {
  return policyCache.get(
    tenant,
    async () => (await fromRegistry(registry(env).getTenant(tenant)))?.policy ?? null,
  );
}

/** Where a tenant scope accepts session tokens. */
export interface TenantAuthOptions {
  /**
   * The route parameter that names the session its routes act on. Only a scope that has one
   * takes session tokens, each for its own session; anywhere else a token is 401.
   */
  sessionParam?: string;
}

/**
 * Accepts `Authorization: Bearer <key>` when the key is a tenant's API key, and sets that tenant
 * and its policy. With `CORDON_BASE_HOST`, a request to `<tenant>.<base host>` must carry a key of
 * that very tenant.
 */
export function tenantAuth(options: TenantAuthOptions = {}): MiddlewareHandler<AppEnv> {
  const { sessionParam } = options;
  return async function tenantAuth(c, next) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
    const apiKey = match?.[1];
    if (!apiKey) throw unauthorized();
    if (apiKey.startsWith(TOKEN_PREFIX)) {
      const claims = await verifySessionToken(c.env, apiKey);
      if (!claims) throw unauthorized();
      const target = sessionParam === undefined ? undefined : c.req.param(sessionParam);
      // A session token works on its own session's routes only; another session answers the
      // same 404 as one that does not exist, so a token reveals nothing about other sessions.
      if (target === undefined) throw unauthorized();
      if (target !== claims.session) throw notFound(`no session ${target}`);
      const policy = await tenantPolicy(c.env, claims.tenant);
      if (!policy) throw unauthorized();
      c.set("tenant", claims.tenant);
      c.set("policy", policy);
      c.set("sessionScope", claims.session);
      return next();
    }
    await seedDevTenant(c.env);
    const resolved = await resolveApiKey(c.env, apiKey);
    if (!resolved) throw unauthorized();
    const hostTenant = tenantOfHost(new URL(c.req.url).hostname, c.env.CORDON_BASE_HOST);
    if (hostTenant !== undefined && hostTenant !== resolved.tenant) throw unauthorized();
    c.set("tenant", resolved.tenant);
    c.set("policy", resolved.policy);
    c.set("hasSecrets", resolved.hasSecrets);
    await next();
  };
}

/**
 * The tenant a host name is reserved for: `acme` for `acme.<base>`. Undefined for the base host
 * itself and for hosts outside it, which accept any tenant's key.
 */
export function tenantOfHost(hostname: string, baseHost: string | undefined): string | undefined {
  if (!baseHost) return undefined;
  const host = hostname.toLowerCase().replace(/\.$/, "");
  const base = baseHost.toLowerCase().replace(/\.$/, "");
  if (!host.endsWith(`.${base}`)) return undefined;
  // Deeper names (`a.b.<base>`) are reserved too, for a tenant id no key can match.
  return host.slice(0, -base.length - 1);
}

const DevSecrets = z.record(SecretName, Secret);

/** Seeds already done in this isolate, by configuration, so each runs once per isolate. */
const devSeeds = new Map<string, Promise<void>>();

/**
 * With `CORDON_DEV_API_KEY` set, makes tenant `dev` exist with that key, policy and secrets from
 * configuration. Runs on the first request an isolate serves; the registry makes it idempotent.
 */
export function seedDevTenant(env: Env): Promise<void> {
  const apiKey = env.CORDON_DEV_API_KEY;
  if (!apiKey) return Promise.resolve();
  const config = JSON.stringify([apiKey, env.CORDON_DEV_POLICY, env.CORDON_DEV_SECRETS]);
  let seed = devSeeds.get(config);
  if (!seed) {
    seed = (async () => {
      const policy = parseConfig("CORDON_DEV_POLICY", env.CORDON_DEV_POLICY, Policy) ?? {};
      const secrets = parseConfig("CORDON_DEV_SECRETS", env.CORDON_DEV_SECRETS, DevSecrets) ?? {};
      const seeded = await fromRegistry(registry(env).seedDevTenant(apiKey, policy, secrets));
      if (seeded === "key-taken") {
        throw misconfigured("CORDON_DEV_API_KEY is already another tenant's API key");
      }
    })();
    devSeeds.set(config, seed);
    // A failed seed (registry unreachable, bad configuration) is retried by the next request;
    // the caller awaits `seed` itself, so this branch only has to forget it.
    void seed.catch(() => devSeeds.delete(config));
  }
  return seed;
}

function parseConfig<T>(
  name: string,
  raw: string | undefined,
  schema: z.ZodType<T>,
): T | undefined {
  if (raw === undefined || raw.trim() === "") return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    // JSON.parse's message quotes the text, which may hold secrets (CORDON_DEV_SECRETS).
    throw misconfigured(`${name} is not valid JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw misconfigured(`${name} is invalid: ${issues.join("; ")}`);
  }
  return parsed.data;
}

/**
 * The server's own configuration is wrong: every request that needs it says what to fix. The
 * detail names settings and rules, never values (zod's messages do not quote the input).
 */
function misconfigured(detail: string): Problem {
  console.error(`configuration error: ${detail}`);
  return new Problem(500, "server-misconfigured", "Server misconfigured", detail);
}
