import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";

/** A field-level validation failure. */
export interface FieldError {
  path: string;
  message: string;
}

/** An RFC 9457 problem: thrown anywhere in a handler, answered as `application/problem+json`. */
export class Problem extends Error {
  readonly status: ContentfulStatusCode;
  readonly type: string;
  readonly title: string;
  readonly extra: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    status: ContentfulStatusCode,
    slug: string,
    title: string,
    detail: string,
    extra: Record<string, unknown> = {},
    headers: Record<string, string> = {},
  ) {
    super(detail);
    this.status = status;
    this.type = `${PROBLEM_BASE}${slug}`;
    this.title = title;
    this.extra = extra;
    this.headers = headers;
  }
}

/** Problem types are URIs under this prefix; docs/api.md lists every one. */
export const PROBLEM_BASE = "https://cordon.dev/problems/";

/** Writes a problem as the response. */
export function problemResponse(c: Context, problem: Problem): Response {
  const body = {
    type: problem.type,
    title: problem.title,
    status: problem.status,
    detail: problem.message,
    instance: new URL(c.req.url).pathname,
    ...problem.extra,
  };
  return new Response(JSON.stringify(body), {
    status: problem.status,
    headers: { "content-type": "application/problem+json", ...problem.headers },
  });
}

export const badRequest = (detail: string, errors: FieldError[]) =>
  new Problem(400, "invalid-request", "Invalid request", detail, { errors });
export const unauthorized = () =>
  new Problem(
    401,
    "unauthorized",
    "Unauthorized",
    "send a valid API key as `Authorization: Bearer <key>`",
    {},
    { "www-authenticate": 'Bearer realm="cordon"' },
  );
export const notFound = (detail: string) => new Problem(404, "not-found", "Not found", detail);
export const tooLarge = (detail: string) =>
  new Problem(413, "too-large", "Payload too large", detail);
export const unsupportedMediaType = () =>
  new Problem(
    415,
    "unsupported-media-type",
    "Unsupported media type",
    "the request body must be JSON, sent with `Content-Type: application/json`",
  );
