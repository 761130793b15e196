/** Builds what the gateway needs for one execution: policy layers, secrets, caps. */
import { ExpiringCache } from "../cache";
import { DEFAULT_EGRESS_CAPS, REGISTRY } from "../config";
import type { Env } from "../env";
import type { EgressSecret, ExecutionEgress } from "./audit";
import type { EgressPolicy } from "./policy";

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

/** Drops this isolate's copy of a tenant's secrets (after the admin API changed one). */
export function forgetTenantSecrets(tenant: string): void {
  secretsCache.delete(tenant);
}

function tenantSecrets(env: Env, tenant: string): Promise<EgressSecret[]> {
  return secretsCache.get(tenant, () => env.TENANTS.getByName(REGISTRY).egressSecrets(tenant));
}

export interface EgressLayers {
  tenant: string;
  /** The tenant policy's `egress`; absent means the tenant allows nothing. */
  tenantPolicy?: EgressPolicy;
  /** The session's `egress`, for executions in a session that narrowed it. */
  session?: EgressPolicy;
  /** The execution request's `egress`. */
  request?: EgressPolicy;
  /** False when the tenant is known to have no secrets, which spares the registry a call. */
  hasSecrets?: boolean;
}

/**
 * The effective egress of an execution: tenant ∩ session ∩ request, as layers that must all
 * allow a request (so a narrower layer can never widen another), with the tenant's secrets.
 */
export async function executionEgress(env: Env, layers: EgressLayers): Promise<ExecutionEgress> {
  return {
    layers: [layers.tenantPolicy ?? { allow: [] }, layers.session, layers.request].filter(
      (layer): layer is EgressPolicy => layer !== undefined,
    ),
    secrets: layers.hasSecrets === false ? [] : await tenantSecrets(env, layers.tenant),
    allowPrivate: env.CORDON_ALLOW_PRIVATE_EGRESS === "1",
    caps: DEFAULT_EGRESS_CAPS,
  };
}
