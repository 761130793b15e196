import type { Context } from "hono";
import type { Idempotency } from "../durable-objects/idempotency";
import type { Incidents } from "../durable-objects/incidents";
import type { PackageCache } from "../durable-objects/package-cache";
import type { RateLimiter } from "../durable-objects/rate-limiter";
import type { Session } from "../durable-objects/session";
import type { Tenants } from "../durable-objects/tenants";
import type { PolicyBody } from "./schemas/policy";

/** Bindings and configuration of the control-plane worker. */
export interface Env {
  LOADER: WorkerLoader;
  /** Pyodide's files for Python guests (static assets, or a disk service self-hosted). */
  PYODIDE?: Fetcher;
  /** The tenant registry (one instance, named "registry"). */
  TENANTS: DurableObjectNamespace<Tenants>;
  /** One rate limiter per tenant, named by tenant id. */
  RATE_LIMITER: DurableObjectNamespace<RateLimiter>;
  /** One session per object, named `<tenant>:<session id>`. */
  SESSION: DurableObjectNamespace<Session>;
  /** Stored answers for `Idempotency-Key`, one object per tenant. */
  IDEMPOTENCY: DurableObjectNamespace<Idempotency>;
  /** Hostile executions and the quarantine of code that took a runtime down (one instance). */
  INCIDENTS: DurableObjectNamespace<Incidents>;
  /** The package cache on Cloudflare when no R2 bucket is bound (src/packages/store.ts). */
  PACKAGE_CACHE: DurableObjectNamespace<PackageCache>;
  /** Cloudflare: an R2 bucket for the package cache, used instead of PACKAGE_CACHE when bound. */
  PACKAGES_BUCKET?: R2Bucket;
  /** Self-hosted: the package cache directory under CORDON_DATA_DIR (a workerd disk service). */
  PACKAGE_DISK?: Fetcher;
  /** The npm registry bare imports resolve from (default: the public registry). */
  CORDON_NPM_REGISTRY?: string;
  /** Self-hosted: the network the registry is reached through (host/config.mjs); else `fetch`. */
  NPM_REGISTRY?: Fetcher;
  /** How long code that took a runtime down is refused, in seconds (default 600). */
  CORDON_QUARANTINE_SECONDS?: string;
  /** Guards `/v1/admin/*`; when unset, every admin route answers 404. */
  CORDON_ADMIN_TOKEN?: string;
  /** When set, `<tenant>.<base host>` only accepts that tenant's keys. */
  CORDON_BASE_HOST?: string;
  /** The dev tenant's policy as JSON (default: no egress, default limits). */
  CORDON_DEV_POLICY?: string;
  /** The dev tenant's secrets as JSON `{ NAME: { value, hosts } }`. */
  CORDON_DEV_SECRETS?: string;
  /** "1": egress rules may open private, loopback and metadata addresses (tests, local dev). */
  CORDON_ALLOW_PRIVATE_EGRESS?: string;
  /** The dev tenant's API key; when unset, no tenant key is accepted. */
  CORDON_DEV_API_KEY?: string;
  /** Largest number of distinct warm isolates this process keeps (see docs/isolates.md). */
  CORDON_WARM_ISOLATES?: string;
  /** Sessions whose Python interpreter this process keeps between turns (docs/python.md). */
  CORDON_PYTHON_WARM_SESSIONS?: string;
  /** Seconds a kept Python interpreter used lately is not ended for another session's. */
  CORDON_PYTHON_KEEP_SECONDS?: string;
  /** "off" skips rate limiting entirely: for measuring the limiter's cost in `npm run bench` only. */
  CORDON_RATE_LIMIT?: string;
  /** Self-hosted: how many runner processes host the guests (bindings RUNNER_0 … RUNNER_n-1). */
  CORDON_RUNNERS?: string;
  /** Self-hosted: the supervisor that restarts runner processes. */
  SUPERVISOR?: Fetcher;
  /** Self-hosted: "runner" in a runner process; unset in the control plane. */
  CORDON_ROLE?: string;
  /** Self-hosted: "namespaces" or "process", how runner processes are isolated (see /healthz). */
  CORDON_ISOLATION?: string;
  /** Self-hosted: the runner sandbox's layers, comma-separated (see /healthz). */
  CORDON_SANDBOX?: string;
  /** Self-hosted, runner role: the control plane's egress socket. */
  CONTROL?: Fetcher;
}

/** What the tenant routes know of a request once `tenantAuth` has let it in. */
export interface AppVariables {
  /** The tenant the request acts for. */
  tenant: string;
  policy: PolicyBody;
  /** Set when the request carries a session token: the one session it may act on. */
  sessionScope?: string;
  /** False when the tenant is known to have no secrets (unknown: the gateway loads them). */
  hasSecrets?: boolean;
}

/** The one Hono environment of every route, sub-app and middleware. */
export type AppEnv = { Bindings: Env; Variables: AppVariables };

/** A request's context in any of them. */
export type AppContext = Context<AppEnv>;

type WorkerEnv = Env;

declare global {
  namespace Cloudflare {
    interface GlobalProps {
      mainModule: typeof import("./index");
    }
    /** Types `env` from `cloudflare:workers` (tests, for one) with this worker's bindings. */
    interface Env extends WorkerEnv {}
  }
}
