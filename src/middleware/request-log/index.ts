import type { Context, MiddlewareHandler } from "hono";

/** How long a request's line may wait to be written together with the lines after it. */
const FLUSH_MS = 100;
/** Lines written at once at most; a full batch is written without waiting. */
const MAX_BATCH = 64;

let batch: string[] = [];

function flush(): void {
  if (batch.length === 0) return;
  const lines = batch;
  batch = [];
  // One write per batch: under load, a console call per request showed in the profile.
  console.log(lines.join("\n"));
}

/** The request's execution context; Hono throws for one served without. */
function executionContext(c: Context): ExecutionContext | undefined {
  try {
    return c.executionCtx as ExecutionContext;
  } catch {
    return undefined;
  }
}

/**
 * Logs one line per request: method, path, status and milliseconds. Lines are written in batches,
 * at most `FLUSH_MS` after their request ended.
 */
export function requestLog(): MiddlewareHandler {
  return async function requestLog(c, next) {
    const started = Date.now();
    await next();
    batch.push(`${c.req.method} ${c.req.path} ${c.res.status} ${Date.now() - started}ms`);
    if (batch.length >= MAX_BATCH) flush();
    else if (batch.length === 1) {
      // The request that starts a batch writes it out, after its answer has gone; one served
      // without an execution context (a direct app.fetch) has no after, so it writes at once.
      const ctx = executionContext(c);
      if (!ctx) flush();
      else {
        ctx.waitUntil(
          new Promise<void>((resolve) =>
            setTimeout(() => {
              flush();
              resolve();
            }, FLUSH_MS),
          ),
        );
      }
    }
  };
}
