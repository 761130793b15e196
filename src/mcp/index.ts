/**
 * `POST /mcp`: the Model Context Protocol over Streamable HTTP, stateless (a fresh server and
 * transport per request, JSON answers). Each tool calls the worker's own `/v1` routes with the
 * caller's `Authorization` header, so auth, execution slots, sessions and idempotency behave
 * exactly as they do over HTTP; the `/mcp` request alone counts against the request rate.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { jsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/types.js";
import { SESSION_LIMITS } from "../../durable-objects/session";
import type { AppContext, AppEnv, Env } from "../env";
import { tenantAuth } from "../middleware/auth";
import { jsonBody } from "../middleware/json-body";
import { countedElsewhere, rateLimit } from "../middleware/rate-limit";
import { ExecutionRequest, ExecutionResult, ProblemDetails } from "../schemas/execution";
import { FileList, NewSession, SessionCreated, SessionId } from "../schemas/session";

/** The worker's own `fetch`, through which every tool reaches the `/v1` routes. */
export type AppFetch = (
  request: Request,
  env: Env,
  ctx: AppContext["executionCtx"],
) => Response | Promise<Response>;

const SERVER_INFO = { name: "cordon", version: "1.0.0" };

/** A file travels base64-encoded at worst: room for the session's whole file cap, and the JSON. */
const MAX_MCP_BODY = Math.ceil((SESSION_LIMITS.fileBytes * 4) / 3) + 64 * 1024;

// Tool arguments: the HTTP API's own schemas, plus what the MCP call adds.
const sessionIdArg = SessionId.describe("A session id from create_session (ses_…).");
const pathArg = z
  .string()
  .min(1)
  .max(512)
  .describe("A path inside the session workspace /tmp/workspace, e.g. data/out.csv.");

const ExecuteArgs = ExecutionRequest.extend({
  code: ExecutionRequest.shape.code.describe(
    "JavaScript or TypeScript, an ES module with top-level await. The result is the default export (a function is called with `input`) or else the completion value of the top-level statements, as in a REPL.",
  ),
  input: ExecutionRequest.shape.input.describe("Any JSON value; the code reads it as `input`."),
  sessionId: sessionIdArg
    .optional()
    .describe(
      "Run in this session (from create_session): top-level bindings and workspace files carry over to its next execution.",
    ),
  idempotencyKey: z
    .string()
    .min(1)
    .max(255)
    .optional()
    .describe("A retry with the same key returns the stored result instead of running again."),
});
const SessionArgs = z.object({ sessionId: sessionIdArg }).strict();
const ReadFileArgs = SessionArgs.extend({ path: pathArg });
const WriteFileArgs = SessionArgs.extend({
  path: pathArg,
  content: z.string().describe("The file's content, as text or (encoding base64) as base64."),
  encoding: z.enum(["utf8", "base64"]).default("utf8"),
});

/** The MCP endpoint; `app` is the whole worker app, so tools pass through all its middleware. */
export function mcpRoutes(app: { fetch: AppFetch }) {
  const routes = new OpenAPIHono<AppEnv>();
  routes.use("/", tenantAuth(), rateLimit(), jsonBody());
  routes.post("/", async (c) => {
    const server = buildServer(internalCaller(c, app.fetch));
    const transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
      maxRequestBodySize: MAX_MCP_BODY,
    });
    await server.connect(transport);
    try {
      // In JSON mode the response is complete when this resolves.
      return await transport.handleRequest(c.req.raw);
    } finally {
      await server.close();
    }
  });
  routes.openAPIRegistry.registerPath({
    method: "post",
    path: "/",
    summary:
      "Model Context Protocol (Streamable HTTP, stateless): tools execute, create_session, list_files, read_file, write_file",
    security: [{ bearer: [] }],
    request: {
      body: {
        required: true,
        content: {
          "application/json": {
            schema: z
              .object({ jsonrpc: z.literal("2.0"), method: z.string().optional() })
              .passthrough()
              .openapi({
                description:
                  "A JSON-RPC message; send Accept: application/json, text/event-stream.",
              }),
          },
        },
      },
    },
    responses: {
      200: {
        description: "The JSON-RPC response",
        content: {
          "application/json": { schema: z.object({ jsonrpc: z.literal("2.0") }).passthrough() },
        },
      },
      202: { description: "A notification or response was accepted" },
      401: {
        description: "No valid API key",
        content: { "application/problem+json": { schema: ProblemDetails } },
      },
      406: { description: "The Accept header lacks application/json or text/event-stream" },
      429: {
        description: "Rate limited",
        content: { "application/problem+json": { schema: ProblemDetails } },
      },
    },
  });
  return routes;
}

type Call = (
  method: string,
  path: string,
  body?: BodyInit,
  headers?: HeadersInit,
) => Promise<Response>;

/** Calls a `/v1` route of this worker as the MCP request's caller. */
function internalCaller(c: AppContext, appFetch: AppFetch): Call {
  const authorization = c.req.header("authorization") ?? "";
  const base = new URL(c.req.url);
  return async (method, path, body, extra) => {
    const headers = new Headers(extra);
    headers.set("authorization", authorization);
    const request = new Request(new URL(path, base), { method, headers, body });
    // The `/mcp` request was counted against the rate; its tool call is not counted again.
    return appFetch(countedElsewhere(request), c.env, c.executionCtx);
  };
}

/** The five tools, answered through `call`. */
function buildServer(call: Call): McpServer {
  const server = new McpServer(SERVER_INFO, {
    capabilities: { tools: {} },
    jsonSchemaValidator: noElicitation,
    instructions:
      "Cordon runs JavaScript or TypeScript in a fresh V8 isolate with no network beyond the tenant's egress allowlist. Use execute for one-off code; create_session first when variables or files should persist between executions.",
  });

  server.registerTool(
    "execute",
    {
      title: "Run code",
      description:
        "Runs JavaScript or TypeScript in a sandboxed V8 isolate and returns the execution result: status (ok, error, timeout, killed), result, error with line and column, console logs, and an audit of every outbound request. Code that throws or times out comes back with isError set.",
      inputSchema: ExecuteArgs,
      outputSchema: ExecutionResult,
    },
    async ({ sessionId, idempotencyKey, ...request }) => {
      const path = sessionId ? `/v1/sessions/${sessionId}/execute` : "/v1/execute";
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (idempotencyKey !== undefined) headers["idempotency-key"] = idempotencyKey;
      const res = await call("POST", path, JSON.stringify(request), headers);
      if (res.status !== 200) return problemResult(res);
      const result = ExecutionResult.parse(await res.json());
      return {
        content: [{ type: "text", text: JSON.stringify(result) }],
        structuredContent: result,
        isError: result.status !== "ok",
      };
    },
  );

  server.registerTool(
    "create_session",
    {
      title: "Create a session",
      description:
        "Creates a session: top-level variables and files in /tmp/workspace persist between the executions run in it (pass its sessionId to execute). It expires after ttlSeconds idle (default 900).",
      inputSchema: NewSession,
      outputSchema: SessionCreated,
    },
    async (options) => {
      const res = await call("POST", "/v1/sessions", JSON.stringify(options), {
        "content-type": "application/json",
      });
      if (res.status !== 201) return problemResult(res);
      return jsonResult(SessionCreated.parse(await res.json()));
    },
  );

  server.registerTool(
    "list_files",
    {
      title: "List session files",
      description: "Lists the files in a session's workspace (/tmp/workspace).",
      inputSchema: SessionArgs,
      outputSchema: FileList,
    },
    async ({ sessionId }) => {
      const res = await call("GET", `/v1/sessions/${sessionId}/files`);
      if (res.status !== 200) return problemResult(res);
      return jsonResult(FileList.parse(await res.json()));
    },
  );

  server.registerTool(
    "read_file",
    {
      title: "Read a session file",
      description:
        "Reads a file from a session's workspace: UTF-8 text as text, anything else as a base64 blob.",
      inputSchema: ReadFileArgs,
    },
    async ({ sessionId, path }) => {
      const rel = workspaceRelative(path);
      if (rel === null) return badPath(path);
      const res = await call("GET", filePath(sessionId, rel));
      if (res.status !== 200) return problemResult(res);
      const bytes = new Uint8Array(await res.arrayBuffer());
      try {
        const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes);
        return { content: [{ type: "text", text }] };
      } catch {
        const uri = `cordon://sessions/${sessionId}/files/${rel}`;
        return {
          content: [
            {
              type: "resource",
              resource: { uri, mimeType: "application/octet-stream", blob: toBase64(bytes) },
            },
          ],
        };
      }
    },
  );

  server.registerTool(
    "write_file",
    {
      title: "Write a session file",
      description:
        "Writes a file into a session's workspace, where the session's code reads it with node:fs at /tmp/workspace/<path>. Replaces an existing file.",
      inputSchema: WriteFileArgs,
    },
    async ({ sessionId, path, content, encoding }) => {
      let bytes: Uint8Array;
      if (encoding === "base64") {
        const decoded = fromBase64(content);
        if (!decoded) return textError("content is not valid base64");
        bytes = decoded;
      } else {
        bytes = new TextEncoder().encode(content);
      }
      const rel = workspaceRelative(path);
      if (rel === null) return badPath(path);
      const res = await call("PUT", filePath(sessionId, rel), bytes, {
        "content-type": "application/octet-stream",
      });
      if (res.status !== 204) return problemResult(res);
      return { content: [{ type: "text", text: `wrote ${bytes.byteLength} bytes to ${rel}` }] };
    },
  );

  return server;
}

/** Elicitation is the only use the server has for a JSON Schema validator; Cordon never elicits. */
const noElicitation: jsonSchemaValidator = {
  getValidator: () => () => ({
    valid: false,
    data: undefined,
    errorMessage: "this server does not validate JSON Schema",
  }),
};

function jsonResult<T extends Record<string, unknown>>(value: T): CallToolResult {
  return { content: [{ type: "text", text: JSON.stringify(value) }], structuredContent: value };
}

/** A route's problem+json answer as a tool error the model can read and act on. */
async function problemResult(res: Response): Promise<CallToolResult> {
  return { content: [{ type: "text", text: await res.text() }], isError: true };
}

function textError(text: string): CallToolResult {
  return { content: [{ type: "text", text }], isError: true };
}

/**
 * Code sees the workspace at /tmp/workspace; the files API takes paths relative to it. Dot
 * segments are refused here: a URL would resolve them and reach another route.
 */
function workspaceRelative(path: string): string | null {
  const segments = path
    .replace(/^\/tmp\/workspace(\/|$)/, "")
    .split("/")
    .filter(Boolean);
  if (segments.length === 0 || segments.some((s) => s === "." || s === "..")) return null;
  return segments.join("/");
}

function filePath(sessionId: string, rel: string): string {
  return `/v1/sessions/${sessionId}/files/${rel.split("/").map(encodeURIComponent).join("/")}`;
}

const badPath = (path: string) =>
  textError(`invalid workspace path ${JSON.stringify(path)}: it must stay inside /tmp/workspace`);

function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

function fromBase64(text: string): Uint8Array | null {
  let binary: string;
  try {
    binary = atob(text.replace(/\s+/g, ""));
  } catch {
    return null;
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
