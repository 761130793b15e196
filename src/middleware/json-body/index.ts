import type { MiddlewareHandler } from "hono";
import { unsupportedMediaType } from "../../api/problem";

/** `application/json` or any `application/<type>+json`, compared case-insensitively. */
const JSON_ESSENCE = /^application\/(?:[a-z0-9!#$&^_.+-]+\+)?json$/;

/**
 * Whether a `Content-Type` names JSON: its media type (before any `;`, spaces trimmed) is JSON,
 * whatever parameters follow. RFC 8259 defines no parameters for JSON, so `charset` and the rest
 * change nothing: the body is read as UTF-8.
 */
export function isJsonMediaType(header: string): boolean {
  return JSON_ESSENCE.test((header.split(";", 1)[0] ?? "").trim().toLowerCase());
}

/**
 * Requires a JSON request body: a body of any other type, or one with no type, is 415. A request
 * with neither body nor type passes (a body may be optional). A JSON type written any other way
 * than `application/json` is handed on as `application/json`, because the route validators
 * after this know narrower spellings and would refuse, or skip, the rest of the family.
 */
export function jsonBody(): MiddlewareHandler {
  return async function jsonBody(c, next) {
    const type = c.req.header("content-type");
    if (type === undefined) {
      const hasBody = c.req.header("content-length") !== "0" && c.req.raw.body !== null;
      if (hasBody) throw unsupportedMediaType();
    } else if (!isJsonMediaType(type)) {
      throw unsupportedMediaType();
    } else if (type !== "application/json") {
      const headers = new Headers(c.req.raw.headers);
      headers.set("content-type", "application/json");
      // Incoming headers are immutable; Hono's own bodyLimit swaps the request the same way.
      c.req.raw = new Request(c.req.raw, { headers });
    }
    await next();
  };
}
