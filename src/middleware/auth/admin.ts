import type { MiddlewareHandler } from "hono";
import { notFound, Problem } from "../../api/problem";
import { sha256 } from "../../bytes";
import type { AppEnv } from "../../env";

/**
 * Requires `Authorization: Bearer <CORDON_ADMIN_TOKEN>`, compared in constant time. Without a
 * configured token the admin API does not exist: every path under it answers 404.
 */
export function adminAuth(): MiddlewareHandler<AppEnv> {
  return async function adminAuth(c, next) {
    const expected = c.env.CORDON_ADMIN_TOKEN;
    if (!expected) throw notFound(`no route for ${c.req.method} ${c.req.path}`);
    const match = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "");
    if (!match?.[1] || !(await sameSecret(match[1], expected))) {
      throw new Problem(
        401,
        "unauthorized",
        "Unauthorized",
        "send the admin token as `Authorization: Bearer <token>`",
        {},
        { "www-authenticate": 'Bearer realm="cordon-admin"' },
      );
    }
    await next();
  };
}

/** Compares two secrets in time that does not depend on where they differ. */
async function sameSecret(given: string, expected: string): Promise<boolean> {
  const [a, b] = await Promise.all([sha256(given), sha256(expected)]);
  return crypto.subtle.timingSafeEqual(a, b);
}
