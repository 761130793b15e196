import { createApp } from "./app";
import type { Env } from "./env";
import { runnerFetch } from "./runner";

export { Idempotency } from "../durable-objects/idempotency";
export { Incidents } from "../durable-objects/incidents";
export { PackageCache } from "../durable-objects/package-cache";
export { RateLimiter } from "../durable-objects/rate-limiter";
export { Session } from "../durable-objects/session";
export { Tenants } from "../durable-objects/tenants";
export { EgressIngress, Gateway } from "./egress/gateway";
export { RunnerEgress } from "./runner";

const app = createApp();

export default {
  // One bundle serves both roles of the self-hosted runtime; host/config.mjs sets the role.
  fetch: (request, env, ctx) =>
    env.CORDON_ROLE === "runner" ? runnerFetch(request, env, ctx) : app.fetch(request, env, ctx),
} satisfies ExportedHandler<Env>;
