/**
 * A typed client for Cordon's v1 HTTP API. It needs nothing but `fetch`, so it runs in Node,
 * browsers and Workers; its types come from the server's zod schemas, imported as types only.
 *
 * ```ts
 * const cordon = new Cordon({ url: "http://127.0.0.1:8787", apiKey: process.env.CORDON_API_KEY });
 * const { status, result } = await cordon.execute({ code: "1 + 1" });
 * ```
 *
 * Relative imports name their `.js` file, so the emitted declarations resolve under node16 and
 * nodenext module resolution too.
 */
import type { z } from "@hono/zod-openapi";
import type {
  IncidentList as IncidentListSchema,
  Incident as IncidentSchema,
  KeyCreated as KeyCreatedSchema,
  NewTenant as NewTenantSchema,
  TenantCreated as TenantCreatedSchema,
  Tenant as TenantSchema,
} from "../schemas/admin.js";
import type {
  EgressAttempt as EgressAttemptSchema,
  EgressPolicy as EgressPolicySchema,
  ExecutionRequest as ExecutionRequestSchema,
  ExecutionResult as ExecutionResultSchema,
  LogEntry as LogEntrySchema,
  ProblemDetails as ProblemSchema,
} from "../schemas/execution.js";
import type {
  PackagePins as PackagePinsSchema,
  UsedPackage as UsedPackageSchema,
} from "../schemas/packages.js";
import type { Policy as PolicySchema, Secret as SecretSchema } from "../schemas/policy.js";
import type {
  ExecutionHistory as ExecutionHistorySchema,
  FileList as FileListSchema,
  NewSession as NewSessionSchema,
  SessionCreated as SessionCreatedSchema,
  SessionInfo as SessionInfoSchema,
  SnapshotList as SnapshotListSchema,
  SnapshotCreated as SnapshotSchema,
} from "../schemas/session.js";
import type {
  McpServer as McpServerSchema,
  ToolCallEvent as ToolCallEventSchema,
  ToolUse as ToolUseSchema,
} from "../schemas/tools.js";
import { CordonError, errorFromResponse } from "./errors.js";
import { parseSse } from "./sse.js";

export {
  CordonExecutor,
  type CordonExecutorOptions,
  type ExecuteResult as CodemodeExecuteResult,
  type ResolvedProvider,
} from "./codemode.js";
export {
  BadRequestError,
  ConflictError,
  CordonError,
  type CordonErrorInit,
  type ErrorKind,
  type FieldError,
  ForbiddenError,
  NotFoundError,
  PayloadTooLargeError,
  parseRetryAfter,
  RateLimitError,
  UnauthorizedError,
  UnprocessableError,
  UnsupportedMediaTypeError,
} from "./errors.js";
export { parseSse, type SseMessage } from "./sse.js";

/** The request as the server takes it: `language` and `timeoutMs` may be left out. */
type WireRequest = z.input<typeof ExecutionRequestSchema>;
/** A remote MCP server, called by Cordon through the tenant's egress gateway. */
export type McpServer = z.input<typeof McpServerSchema>;
/** A tool the code may call, answered here by awaiting `handler` with the call's argument. */
export interface ToolHandler {
  description?: string;
  /** A JSON Schema of the argument (for `toolTypes` and the agent's prompt). */
  inputSchema?: Record<string, unknown>;
  /** Its result resolves the code's call; what it throws rejects it with the error's message. */
  // biome-ignore lint/suspicious/noExplicitAny: the argument is whatever the code passed
  handler: (args: any) => unknown;
}
/** Namespaces of tools, each a global of the code: handlers answered here, or an MCP server. */
export type Tools = Record<string, Record<string, ToolHandler> | { mcp: McpServer }>;
/** What `execute` takes: `language` and `timeoutMs` may be left out; `tools` carry handlers. */
export type ExecuteRequest = Omit<WireRequest, "tools"> & { tools?: Tools };
/** One tool call of a streamed execution (answered by the client when it has the handler). */
export type ToolCallEvent = z.output<typeof ToolCallEventSchema>;
export type ToolUse = z.output<typeof ToolUseSchema>;
export type ExecutionResult = z.output<typeof ExecutionResultSchema>;
export type LogEntry = z.output<typeof LogEntrySchema>;
export type EgressAttempt = z.output<typeof EgressAttemptSchema>;
export type EgressPolicy = z.input<typeof EgressPolicySchema>;
/** The request's `packages`: name → semver range, version or dist-tag. */
export type PackagePins = z.input<typeof PackagePinsSchema>;
/** One npm package an execution imported (the result's `packages`). */
export type UsedPackage = z.output<typeof UsedPackageSchema>;
export type Problem = z.output<typeof ProblemSchema>;
export type NewSession = z.input<typeof NewSessionSchema>;
export type SessionCreated = z.output<typeof SessionCreatedSchema>;
export type SessionInfo = z.output<typeof SessionInfoSchema>;
export type ExecutionHistory = z.output<typeof ExecutionHistorySchema>;
export type FileList = z.output<typeof FileListSchema>;
export type Snapshot = z.output<typeof SnapshotSchema>;
export type SnapshotList = z.output<typeof SnapshotListSchema>;
export type FileEntry = FileList["files"][number];
/** A tenant policy as `PUT /v1/admin/tenants/{id}/policy` takes it. */
export type Policy = z.input<typeof PolicySchema>;
export type Secret = z.input<typeof SecretSchema>;

/** What `admin.createTenant` takes: an id and, optionally, its policy. */
export type NewTenant = z.input<typeof NewTenantSchema>;
/** A new tenant with its first API key, which is shown only in this answer. */
export type TenantCreated = z.output<typeof TenantCreatedSchema>;
/** A new API key, shown only in this answer. */
export type KeyCreated = z.output<typeof KeyCreatedSchema>;
/** A tenant's policy, key ids and secret names (values are never shown). */
export type Tenant = z.output<typeof TenantSchema>;
export type Incident = z.output<typeof IncidentSchema>;
export type IncidentList = z.output<typeof IncidentListSchema>;
export interface Health {
  ok: true;
  [field: string]: unknown;
}

/** One event of a streamed execution; the last one is always `result`. */
export type ExecutionEvent =
  | { type: "log"; data: LogEntry }
  | { type: "egress"; data: EgressAttempt }
  | { type: "tool_call"; data: ToolCallEvent }
  | { type: "result"; data: ExecutionResult };

export interface CordonOptions {
  /** The server, e.g. `http://127.0.0.1:8787`. */
  url: string;
  /** A tenant API key, or a session token (`cst_…`) for that session's routes only. */
  apiKey?: string;
  /** `CORDON_ADMIN_TOKEN`, for `admin.*`; without it they send `apiKey`. */
  adminToken?: string;
  /** A `fetch` to use instead of the global one (a Worker's service binding, a test double). */
  fetch?: (input: string, init: RequestInit) => Promise<Response>;
  /** Headers added to every request. */
  headers?: Record<string, string>;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

export interface ExecuteOptions extends RequestOptions {
  /** A retry with the same key (per tenant, 24 h) returns the stored result, not a new run. */
  idempotencyKey?: string;
}

/** File contents `files.put` accepts; a string is sent as UTF-8. */
export type FileData = string | Uint8Array | ArrayBuffer | Blob;

type Auth = "tenant" | "admin" | "none";

interface Send extends RequestOptions {
  auth?: Auth;
  json?: unknown;
  body?: BodyInit;
  headers?: Record<string, string>;
}

/** Sends requests and turns every non-2xx answer into a typed `CordonError`. */
class Http {
  readonly #base: string;
  readonly #apiKey: string | undefined;
  readonly #adminToken: string | undefined;
  readonly #headers: Record<string, string>;
  readonly #fetch: (input: string, init: RequestInit) => Promise<Response>;

  constructor(options: CordonOptions) {
    if (!options.url) throw new TypeError("Cordon needs a url");
    this.#base = options.url.replace(/\/+$/, "");
    this.#apiKey = options.apiKey;
    this.#adminToken = options.adminToken;
    this.#headers = options.headers ?? {};
    const custom = options.fetch;
    // The global fetch is called unbound, as browsers require.
    this.#fetch = custom ?? ((input, init) => fetch(input, init));
  }

  async send(method: string, path: string, options: Send = {}): Promise<Response> {
    const headers: Record<string, string> = { ...this.#headers, ...options.headers };
    const token =
      options.auth === "none"
        ? undefined
        : options.auth === "admin"
          ? (this.#adminToken ?? this.#apiKey)
          : this.#apiKey;
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    let body = options.body;
    if (options.json !== undefined) {
      headers["content-type"] = "application/json";
      body = JSON.stringify(options.json);
    }
    const init: RequestInit = { method, headers };
    if (body !== undefined) init.body = body;
    if (options.signal) init.signal = options.signal;
    let res: Response;
    try {
      res = await this.#fetch(`${this.#base}${path}`, init);
    } catch (err) {
      if (options.signal?.aborted) throw err;
      const message = err instanceof Error ? err.message : String(err);
      throw new CordonError({
        status: 0,
        kind: "network",
        title: "Network error",
        detail: `${method} ${this.#base}${path} failed: ${message}`,
        cause: err,
      });
    }
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }

  /** Answers a tool call with what its handler resolves to, or the message of what it throws. */
  async #answer(call: ToolCallEvent, handler: ToolHandler["handler"]): Promise<void> {
    let answer: { result: unknown } | { error: { message: string } };
    try {
      answer = { result: (await handler(call.args)) ?? null };
    } catch (err) {
      answer = { error: { message: err instanceof Error ? err.message : String(err) } };
    }
    const path = `/v1/executions/${encodeURIComponent(call.executionId)}/tool-calls/${encodeURIComponent(call.callId)}`;
    try {
      await this.empty("POST", path, { json: answer });
    } catch {
      // The execution has ended (timeout, disconnect) or the answer was refused: the code's call
      // settles without it, and the result says how the run ended.
    }
  }

  async json<T>(method: string, path: string, options: Send = {}): Promise<T> {
    const res = await this.send(method, path, options);
    return (await res.json()) as T;
  }

  async empty(method: string, path: string, options: Send = {}): Promise<void> {
    const res = await this.send(method, path, options);
    await res.body?.cancel();
  }

  /**
   * Runs code, yielding `log`, `egress` and `tool_call` events as they happen and the `result`
   * last. Each tool call whose handler `request.tools` holds is answered as it arrives.
   */
  async *stream(
    path: string,
    request: ExecuteRequest,
    options: ExecuteOptions,
  ): AsyncGenerator<ExecutionEvent, ExecutionResult> {
    const answering = new Set<Promise<void>>();
    try {
      return yield* this.#stream(path, request, options, answering);
    } finally {
      // Answers still on their way are for a run that has ended: they settle on their own.
      await Promise.allSettled(answering);
    }
  }

  async *#stream(
    path: string,
    request: ExecuteRequest,
    options: ExecuteOptions,
    answering: Set<Promise<void>>,
  ): AsyncGenerator<ExecutionEvent, ExecutionResult> {
    const res = await this.send("POST", path, {
      json: wireRequest(request),
      headers: { accept: "text/event-stream", ...idempotency(options) },
      ...signal(options),
    });
    const type = res.headers.get("content-type") ?? "";
    if (!/^text\/event-stream\b/i.test(type)) {
      // A server that does not stream answers JSON: the same events, all at the end.
      const result = (await res.json()) as ExecutionResult;
      for (const log of result.logs) yield { type: "log", data: log };
      for (const attempt of result.egress) yield { type: "egress", data: attempt };
      yield { type: "result", data: result };
      return result;
    }
    if (!res.body) throw streamError("the event stream has no body");
    for await (const message of parseSse(res.body)) {
      if (message.event === "log") {
        yield { type: "log", data: parseEvent<LogEntry>(message.event, message.data) };
      } else if (message.event === "egress") {
        yield { type: "egress", data: parseEvent<EgressAttempt>(message.event, message.data) };
      } else if (message.event === "tool_call") {
        const call = parseEvent<ToolCallEvent>(message.event, message.data);
        const handler = handlerOf(request.tools, call);
        if (handler) {
          // Calls are answered concurrently, in whatever order their handlers finish; `stream`
          // awaits those still going before it returns.
          const answered = this.#answer(call, handler);
          answering.add(answered);
          void answered.finally(() => answering.delete(answered));
        }
        yield { type: "tool_call", data: call };
      } else if (message.event === "result") {
        const result = parseEvent<ExecutionResult>(message.event, message.data);
        yield { type: "result", data: result };
        return result;
      } else if (message.event === "error") {
        const problem = parseEvent<Record<string, unknown>>(message.event, message.data);
        throw problemError(problem);
      }
      // Other events are for later versions of the server; skipping them keeps this client working.
    }
    throw streamError("the event stream ended before its result event");
  }
}

/** The result a stream of events ends with. */
async function finalResult(
  events: AsyncGenerator<ExecutionEvent, ExecutionResult>,
): Promise<ExecutionResult> {
  for (;;) {
    const next = await events.next();
    if (next.done) return next.value;
  }
}

/** The request as sent: tool handlers stay here, the server gets their names and schemas. */
function wireRequest(request: ExecuteRequest): WireRequest {
  if (!request.tools) return request as WireRequest;
  const tools: NonNullable<WireRequest["tools"]> = {};
  for (const [name, namespace] of Object.entries(request.tools)) {
    if (isMcp(namespace)) {
      tools[name] = namespace;
      continue;
    }
    const declared: Record<
      string,
      { description?: string; inputSchema?: Record<string, unknown> }
    > = {};
    for (const [tool, { description, inputSchema }] of Object.entries(namespace)) {
      declared[tool] = {
        ...(description !== undefined ? { description } : {}),
        ...(inputSchema !== undefined ? { inputSchema } : {}),
      };
    }
    tools[name] = declared;
  }
  return { ...request, tools };
}

function isMcp(namespace: Tools[string]): namespace is { mcp: McpServer } {
  const mcp = (namespace as { mcp?: unknown }).mcp;
  return typeof mcp === "object" && mcp !== null && !("handler" in mcp);
}

/** Whether the request names a tool the client answers (then it runs over the event stream). */
function hasHandlers(tools: Tools | undefined): boolean {
  return Object.values(tools ?? {}).some((namespace) => !isMcp(namespace));
}

function handlerOf(
  tools: Tools | undefined,
  call: ToolCallEvent,
): ToolHandler["handler"] | undefined {
  const namespace =
    tools && Object.hasOwn(tools, call.namespace) ? tools[call.namespace] : undefined;
  if (!namespace || isMcp(namespace) || !Object.hasOwn(namespace, call.name)) return undefined;
  return namespace[call.name]?.handler;
}

function parseEvent<T>(event: string, data: string): T {
  try {
    return JSON.parse(data) as T;
  } catch {
    throw streamError(`the ${event} event's data is not JSON`);
  }
}

function streamError(detail: string): CordonError {
  return new CordonError({ status: 0, kind: "stream", title: "Broken event stream", detail });
}

/** A problem that arrived as an `error` event after the stream had begun. */
function problemError(problem: Record<string, unknown>): CordonError {
  const status = typeof problem.status === "number" ? problem.status : 500;
  return new CordonError({
    status,
    type: typeof problem.type === "string" ? problem.type : "about:blank",
    title: typeof problem.title === "string" ? problem.title : "Execution failed",
    detail: typeof problem.detail === "string" ? problem.detail : "the server reported an error",
    problem,
  });
}

function idempotency(options: ExecuteOptions): Record<string, string> {
  return options.idempotencyKey === undefined ? {} : { "idempotency-key": options.idempotencyKey };
}

function signal(options: RequestOptions): { signal?: AbortSignal } {
  return options.signal ? { signal: options.signal } : {};
}

/** `/v1/sessions/{id}` with the id escaped. */
function sessionPath(id: string, rest = ""): string {
  return `/v1/sessions/${encodeURIComponent(id)}${rest}`;
}

/**
 * A workspace path as URL segments. Dot segments are refused before anything is sent: a URL
 * resolves them, so `..` would reach another route (`files.delete(id, "..")` the session itself).
 */
function filePath(id: string, path: string): string {
  const segments = path
    .replace(/^\/tmp\/workspace(\/|$)/, "")
    .split("/")
    .filter(Boolean);
  if (segments.length === 0 || segments.some((s) => s === "." || s === "..")) {
    throw new TypeError(`invalid workspace path ${JSON.stringify(path)}`);
  }
  return sessionPath(id, `/files/${segments.map(encodeURIComponent).join("/")}`);
}

function toBody(data: FileData): BodyInit {
  if (typeof data === "string") return new TextEncoder().encode(data);
  if (data instanceof Uint8Array) return data.slice();
  return data;
}

/** Sessions: variables and workspace files persist between their executions. */
export class Sessions {
  readonly #http: Http;

  constructor(http: Http) {
    this.#http = http;
  }

  /** `POST /v1/sessions`: a session and its token (which works on this session's routes only). */
  create(options: NewSession = {}, request: RequestOptions = {}): Promise<SessionCreated> {
    return this.#http.json("POST", "/v1/sessions", { json: options, ...signal(request) });
  }

  /** `GET /v1/sessions/{id}`. */
  get(id: string, request: RequestOptions = {}): Promise<SessionInfo> {
    return this.#http.json("GET", sessionPath(id), signal(request));
  }

  /** `DELETE /v1/sessions/{id}`: the session and everything in it. */
  delete(id: string, request: RequestOptions = {}): Promise<void> {
    return this.#http.empty("DELETE", sessionPath(id), signal(request));
  }

  /** `GET /v1/sessions/{id}/executions`, newest last. */
  executions(id: string, request: RequestOptions = {}): Promise<ExecutionHistory> {
    return this.#http.json("GET", sessionPath(id, "/executions"), signal(request));
  }

  /**
   * `POST /v1/sessions/{id}/snapshots`: saves the session's variables, files and egress
   * narrowing, once the execution in progress (if any) has finished.
   */
  snapshot(id: string, request: RequestOptions = {}): Promise<Snapshot> {
    return this.#http.json("POST", sessionPath(id, "/snapshots"), signal(request));
  }

  /** `GET /v1/sessions/{id}/snapshots`, oldest first. */
  snapshots(id: string, request: RequestOptions = {}): Promise<SnapshotList> {
    return this.#http.json("GET", sessionPath(id, "/snapshots"), signal(request));
  }

  /** `DELETE /v1/sessions/{id}/snapshots/{snapshotId}`. */
  deleteSnapshot(id: string, snapshotId: string, request: RequestOptions = {}): Promise<void> {
    const path = sessionPath(id, `/snapshots/${encodeURIComponent(snapshotId)}`);
    return this.#http.empty("DELETE", path, signal(request));
  }

  /** `POST /v1/sessions/{id}/restore`: rolls the session back to a snapshot; answers it after. */
  restore(id: string, snapshotId: string, request: RequestOptions = {}): Promise<SessionInfo> {
    return this.#http.json("POST", sessionPath(id, "/restore"), {
      json: { snapshotId },
      ...signal(request),
    });
  }

  /**
   * `POST /v1/sessions` with `from`: a new session (own id, token and TTL) starting from the
   * session's snapshot `snapshotId`, or from its state now.
   */
  fork(
    id: string,
    options: { snapshotId?: string; ttlSeconds?: number } = {},
    request: RequestOptions = {},
  ): Promise<SessionCreated> {
    const { snapshotId, ttlSeconds } = options;
    return this.create(
      {
        from: { sessionId: id, ...(snapshotId === undefined ? {} : { snapshotId }) },
        ...(ttlSeconds === undefined ? {} : { ttlSeconds }),
      },
      request,
    );
  }

  /** `POST /v1/sessions/{id}/execute` (over the event stream when `tools` have handlers). */
  execute(id: string, request: ExecuteRequest, options: ExecuteOptions = {}) {
    if (hasHandlers(request.tools)) {
      return finalResult(this.#http.stream(sessionPath(id, "/execute"), request, options));
    }
    return this.#http.json<ExecutionResult>("POST", sessionPath(id, "/execute"), {
      json: wireRequest(request),
      headers: idempotency(options),
      ...signal(options),
    });
  }

  /** `POST /v1/sessions/{id}/execute` with `Accept: text/event-stream`. */
  executeStream(
    id: string,
    request: ExecuteRequest,
    options: ExecuteOptions = {},
  ): AsyncGenerator<ExecutionEvent, ExecutionResult> {
    return this.#http.stream(sessionPath(id, "/execute"), request, options);
  }
}

/** A session's workspace files (`/tmp/workspace` to its code). */
export class Files {
  readonly #http: Http;

  constructor(http: Http) {
    this.#http = http;
  }

  /** `GET /v1/sessions/{id}/files`. */
  list(id: string, request: RequestOptions = {}): Promise<FileList> {
    return this.#http.json("GET", sessionPath(id, "/files"), signal(request));
  }

  /** `GET /v1/sessions/{id}/files/{path}` as bytes. */
  async get(id: string, path: string, request: RequestOptions = {}): Promise<Uint8Array> {
    const res = await this.#http.send("GET", filePath(id, path), signal(request));
    return new Uint8Array(await res.arrayBuffer());
  }

  /** `GET /v1/sessions/{id}/files/{path}` decoded as UTF-8. */
  async getText(id: string, path: string, request: RequestOptions = {}): Promise<string> {
    return new TextDecoder().decode(await this.get(id, path, request));
  }

  /** `PUT /v1/sessions/{id}/files/{path}`; a string is stored as UTF-8. */
  async put(id: string, path: string, data: FileData, request: RequestOptions = {}): Promise<void> {
    return this.#http.empty("PUT", filePath(id, path), {
      body: toBody(data),
      headers: { "content-type": "application/octet-stream" },
      ...signal(request),
    });
  }

  /** `DELETE /v1/sessions/{id}/files/{path}`. */
  async delete(id: string, path: string, request: RequestOptions = {}): Promise<void> {
    return this.#http.empty("DELETE", filePath(id, path), signal(request));
  }
}

/** `/v1/admin/*`, with the admin token. */
export class Admin {
  readonly #http: Http;

  constructor(http: Http) {
    this.#http = http;
  }

  /** `POST /v1/admin/tenants`: the tenant and its first API key, shown only here. */
  createTenant(tenant: NewTenant): Promise<TenantCreated> {
    return this.#http.json("POST", "/v1/admin/tenants", { auth: "admin", json: tenant });
  }

  /** `GET /v1/admin/tenants/{id}`: policy, key ids and secret names, never a value. */
  getTenant(id: string): Promise<Tenant> {
    return this.#http.json("GET", tenantPath(id), { auth: "admin" });
  }

  /** `PUT /v1/admin/tenants/{id}/policy`: replaces the whole policy. */
  setPolicy(id: string, policy: Policy): Promise<void> {
    return this.#http.empty("PUT", tenantPath(id, "/policy"), { auth: "admin", json: policy });
  }

  /** `POST /v1/admin/tenants/{id}/keys`: a new API key, shown only here. */
  createKey(id: string): Promise<KeyCreated> {
    return this.#http.json("POST", tenantPath(id, "/keys"), { auth: "admin" });
  }

  /** `DELETE /v1/admin/tenants/{id}/keys/{keyId}`: the key stops working at once. */
  revokeKey(id: string, keyId: string): Promise<void> {
    return this.#http.empty("DELETE", tenantPath(id, `/keys/${encodeURIComponent(keyId)}`), {
      auth: "admin",
    });
  }

  /** `PUT /v1/admin/tenants/{id}/secrets/{name}`: code sees a placeholder, `hosts` the value. */
  setSecret(id: string, name: string, secret: Secret): Promise<void> {
    return this.#http.empty("PUT", tenantPath(id, `/secrets/${encodeURIComponent(name)}`), {
      auth: "admin",
      json: secret,
    });
  }

  /** `GET /v1/admin/incidents`: hostile executions that were stopped. */
  incidents(): Promise<IncidentList> {
    return this.#http.json("GET", "/v1/admin/incidents", { auth: "admin" });
  }
}

function tenantPath(id: string, rest = ""): string {
  return `/v1/admin/tenants/${encodeURIComponent(id)}${rest}`;
}

/** The Cordon API: `execute`, `sessions`, `files`, `admin`, `health`, `openapi`. */
export class Cordon {
  readonly sessions: Sessions;
  readonly files: Files;
  readonly admin: Admin;
  readonly #http: Http;

  constructor(options: CordonOptions) {
    this.#http = new Http(options);
    this.sessions = new Sessions(this.#http);
    this.files = new Files(this.#http);
    this.admin = new Admin(this.#http);
  }

  /**
   * `POST /v1/execute`: runs code once in a fresh isolate. User-code errors are results. With
   * tool handlers it runs over the event stream and answers each call by awaiting its handler.
   */
  execute(request: ExecuteRequest, options: ExecuteOptions = {}): Promise<ExecutionResult> {
    if (hasHandlers(request.tools)) {
      return finalResult(this.#http.stream("/v1/execute", request, options));
    }
    return this.#http.json("POST", "/v1/execute", {
      json: wireRequest(request),
      headers: idempotency(options),
      ...signal(options),
    });
  }

  /**
   * `POST /v1/execute` with `Accept: text/event-stream`: yields `log` and `egress` events while
   * the code runs, then `result`. Leaving the loop early disconnects, which cancels the run.
   */
  executeStream(
    request: ExecuteRequest,
    options: ExecuteOptions = {},
  ): AsyncGenerator<ExecutionEvent, ExecutionResult> {
    return this.#http.stream("/v1/execute", request, options);
  }

  /**
   * `POST /v1/tools/types`: TypeScript declarations of the tools (MCP servers' from their
   * `tools/list`), the text to give a model that writes code calling them.
   */
  async toolTypes(tools: Tools, options: RequestOptions = {}): Promise<string> {
    const { tools: wire } = wireRequest({ code: "", tools });
    const answer = await this.#http.json<{ typescript: string }>("POST", "/v1/tools/types", {
      json: { tools: wire },
      ...signal(options),
    });
    return answer.typescript;
  }

  /** `GET /healthz`. */
  health(): Promise<Health> {
    return this.#http.json("GET", "/healthz", { auth: "none" });
  }

  /** `GET /openapi.json`: the OpenAPI 3.1 document. */
  openapi(): Promise<Record<string, unknown>> {
    return this.#http.json("GET", "/openapi.json", { auth: "none" });
  }
}
