import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
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

/** Writes a problem as the response to `c`'s request. */
export function problemResponse(c: Context, problem: Problem): Response {
  return new Response(JSON.stringify(problemBody(problem, new URL(c.req.url).pathname)), {
    status: problem.status,
    headers: { "content-type": "application/problem+json", ...problem.headers },
  });
}

/** The problem+json object of `problem`, answered for the path `instance`. */
export function problemBody(problem: Problem, instance: string): Record<string, unknown> {
  return {
    type: problem.type,
    title: problem.title,
    status: problem.status,
    detail: problem.message,
    instance,
    ...problem.extra,
  };
}

/**
 * The problem an error answers as: a `Problem` as itself, an `HTTPException` of Hono or its
 * validators with its own status (415, 413, 400), anything else as a generic 500 whose id is
 * logged with the error, so nothing internal reaches the client.
 */
export function asProblem(err: unknown): Problem {
  if (err instanceof Problem) return err;
  if (err instanceof HTTPException) return httpProblem(err);
  return internalError(err);
}

/** Logs an unexpected error under a fresh id and returns the 500 problem that quotes it. */
export function internalError(err: unknown): Problem {
  const errorId = crypto.randomUUID();
  console.error(`error ${errorId}:`, err);
  return new Problem(
    500,
    "internal-error",
    "Internal server error",
    `something went wrong on our side; quote error id ${errorId} when reporting it`,
    { errorId },
  );
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
export const unavailable = (detail: string, retryAfterSeconds: number) =>
  new Problem(
    503,
    "service-unavailable",
    "Service unavailable",
    detail,
    { retryAfter: retryAfterSeconds },
    { "retry-after": String(retryAfterSeconds) },
  );
export const tooLarge = (detail: string) =>
  new Problem(413, "too-large", "Payload too large", detail);
export const unsupportedMediaType = () =>
  new Problem(
    415,
    "unsupported-media-type",
    "Unsupported media type",
    "the request body must be JSON, sent with `Content-Type: application/json` (or another `application/*+json` type)",
  );

/**
 * The problem for an `HTTPException` thrown by Hono or its validators: the same status, with
 * the slug docs/api.md gives it. A 5xx one is a bug of ours, logged like any other.
 */
export function httpProblem(err: HTTPException): Problem {
  switch (err.status) {
    case 400:
      return badRequest(`the request body is not valid JSON: ${err.message}`, [
        { path: "(body)", message: err.message },
      ]);
    case 413:
      return tooLarge(`the request body is too large: ${err.message}`);
    case 415:
      return unsupportedMediaType();
  }
  if (err.status < 400 || err.status >= 500) return internalError(err);
  return new Problem(err.status, "request-refused", "Request refused", err.message);
}
