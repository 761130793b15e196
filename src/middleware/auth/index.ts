import type { MiddlewareHandler } from "hono";
import { unauthorized } from "../../api/problem";
import type { Env } from "../../env";

/** The tenant a request acts for, set by `tenantAuth`. */
export interface AuthVariables {
  tenant: string;
}

const encoder = new TextEncoder();

/** Accepts `Authorization: Bearer <key>` when the key is the dev tenant's key (compared in constant time). */
export function tenantAuth(): MiddlewareHandler<{ Bindings: Env; Variables: AuthVariables }> {
  return async function tenantAuth(c, next) {
    const header = c.req.header("authorization") ?? "";
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const expected = c.env.CORDON_DEV_API_KEY;
    if (!match?.[1] || !expected || !(await sameSecret(match[1], expected))) throw unauthorized();
    c.set("tenant", "dev");
    await next();
  };
}

/** Compares two secrets in time that does not depend on where they differ. */
export async function sameSecret(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([
    crypto.subtle.digest("SHA-256", encoder.encode(given)),
    crypto.subtle.digest("SHA-256", encoder.encode(expected)),
  ]);
  return crypto.subtle.timingSafeEqual(a, b);
}
