/** A field-level validation failure from a `400` problem. */
export interface FieldError {
  path: string;
  message: string;
}

/** What went wrong, by HTTP status; `network` and `stream` never reached or finished an answer. */
export type ErrorKind =
  | "bad-request"
  | "unauthorized"
  | "forbidden"
  | "not-found"
  | "conflict"
  | "too-large"
  | "unsupported-media-type"
  | "unprocessable"
  | "rate-limited"
  | "server"
  | "http"
  | "network"
  | "stream";

const KINDS: Record<number, ErrorKind> = {
  400: "bad-request",
  401: "unauthorized",
  403: "forbidden",
  404: "not-found",
  409: "conflict",
  413: "too-large",
  415: "unsupported-media-type",
  422: "unprocessable",
  429: "rate-limited",
};

export interface CordonErrorInit {
  status: number;
  kind?: ErrorKind;
  type?: string;
  title: string;
  detail: string;
  errors?: FieldError[];
  instance?: string;
  retryAfter?: number;
  problem?: Record<string, unknown>;
  cause?: unknown;
}

/**
 * An RFC 9457 problem the server answered (or, with `status` 0, a request that never got an
 * answer). Subclasses exist for the statuses a caller handles differently.
 */
export class CordonError extends Error {
  /** HTTP status; 0 when no answer arrived. */
  readonly status: number;
  readonly kind: ErrorKind;
  /** Problem type URI, e.g. `https://cordon.dev/problems/not-found` (`about:blank` if none). */
  readonly type: string;
  readonly title: string;
  readonly detail: string;
  /** Field errors of a validation problem; empty otherwise. */
  readonly errors: FieldError[];
  readonly instance?: string;
  /** Seconds to wait before retrying, from `Retry-After`. */
  readonly retryAfter?: number;
  /** The whole problem body as the server sent it, extension members included. */
  readonly problem: Record<string, unknown>;

  constructor(init: CordonErrorInit) {
    super(`${init.title}: ${init.detail}`, init.cause === undefined ? {} : { cause: init.cause });
    this.name = new.target.name;
    this.status = init.status;
    this.kind = init.kind ?? kindOf(init.status);
    this.type = init.type ?? "about:blank";
    this.title = init.title;
    this.detail = init.detail;
    this.errors = init.errors ?? [];
    if (init.instance !== undefined) this.instance = init.instance;
    if (init.retryAfter !== undefined) this.retryAfter = init.retryAfter;
    this.problem = init.problem ?? {};
  }
}

export class BadRequestError extends CordonError {}
export class UnauthorizedError extends CordonError {}
export class ForbiddenError extends CordonError {}
export class NotFoundError extends CordonError {}
export class ConflictError extends CordonError {}
export class PayloadTooLargeError extends CordonError {}
export class UnsupportedMediaTypeError extends CordonError {}
export class UnprocessableError extends CordonError {}
export class RateLimitError extends CordonError {}

const CLASSES: Record<number, typeof CordonError> = {
  400: BadRequestError,
  401: UnauthorizedError,
  403: ForbiddenError,
  404: NotFoundError,
  409: ConflictError,
  413: PayloadTooLargeError,
  415: UnsupportedMediaTypeError,
  422: UnprocessableError,
  429: RateLimitError,
};

function kindOf(status: number): ErrorKind {
  return KINDS[status] ?? (status >= 500 ? "server" : "http");
}

/** The typed error for a non-2xx answer, read from its problem+json body when it has one. */
export async function errorFromResponse(res: Response): Promise<CordonError> {
  const text = await res.text().catch(() => "");
  let problem: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
      problem = parsed as Record<string, unknown>;
    }
  } catch {
    // Not JSON (a proxy's HTML page, say): the status line and the text stand in.
  }
  const str = (key: string) => (typeof problem[key] === "string" ? problem[key] : undefined);
  const init: CordonErrorInit = {
    status: res.status,
    title: str("title") ?? (res.statusText || `HTTP ${res.status}`),
    detail: str("detail") ?? (text.slice(0, 500) || `the server answered ${res.status}`),
    problem,
  };
  const type = str("type");
  if (type !== undefined) init.type = type;
  const instance = str("instance");
  if (instance !== undefined) init.instance = instance;
  if (Array.isArray(problem.errors)) init.errors = problem.errors.filter(isFieldError);
  const retryAfter = parseRetryAfter(res.headers.get("retry-after"));
  if (retryAfter !== undefined) init.retryAfter = retryAfter;
  const Class = CLASSES[res.status] ?? CordonError;
  return new Class(init);
}

function isFieldError(value: unknown): value is FieldError {
  if (value === null || typeof value !== "object") return false;
  const { path, message } = value as Record<string, unknown>;
  return typeof path === "string" && typeof message === "string";
}

/** `Retry-After` as seconds: delta-seconds, or an HTTP date from now. */
export function parseRetryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, Math.ceil((at - Date.now()) / 1000));
}
