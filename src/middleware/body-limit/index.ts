import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { badRequest, Problem, tooLarge } from "../../api/problem";

/**
 * Refuses a request body over `maxBytes` with 413. A chunked body is read here in full, and one
 * the runtime cannot read (it refuses a chunk extension over 16 KiB, as it does a body whose
 * connection breaks) is a 400: the failure is the request's, not ours.
 */
export function limitBody(maxBytes: number): MiddlewareHandler {
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw bodyTooLarge(maxBytes);
    },
  });
  return async function limitBody(c, next) {
    let reading = true;
    try {
      await limit(c, () => {
        reading = false;
        return next();
      });
    } catch (err) {
      // Before `next`, bodyLimit does nothing but read the body.
      if (!reading || err instanceof Problem) throw err;
      const why = "its chunked encoding is malformed (a chunk extension over 16 KiB, say)";
      throw badRequest(`the request body could not be read: ${why}`, [
        { path: "(body)", message: why },
      ]);
    }
  };
}

/** The 413 of a request body over `maxBytes`. */
export const bodyTooLarge = (maxBytes: number) =>
  tooLarge(`the request body is larger than ${maxBytes} bytes`);
