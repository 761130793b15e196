import type { MiddlewareHandler } from "hono";

/** Logs one line per request: method, path, status and milliseconds. */
export function requestLog(): MiddlewareHandler {
  return async function requestLog(c, next) {
    const started = Date.now();
    await next();
    console.log(`${c.req.method} ${c.req.path} ${c.res.status} ${Date.now() - started}ms`);
  };
}
