import type { Context } from "hono";
import { problemDoc } from "../schemas/execution";

/**
 * Closes a sub-app's scope: a request under it that none of its routes answers is the app's 404
 * (or 405 with `Allow`), never handed on to the routes mounted after it, whose middleware would
 * authenticate it, and count it, a second time.
 */
export const unmatched = (c: Context) => c.notFound();

/** The document's security of a tenant route: an API key, or a session token where it works. */
export const bearer = [{ bearer: [] }];

/** The document's 404 of a session's routes. */
export const missingSession = problemDoc(
  "No such session (never created, deleted, expired, or another tenant's)",
);
