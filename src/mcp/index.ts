/**
 * `POST /mcp`: the Model Context Protocol over Streamable HTTP, stateless (a fresh server and
 * transport per request, JSON answers). Each tool runs, in-process, the same operation as the
 * `/v1` route it stands for, as the tenant the `/mcp` request authenticated: an execution takes a
 * slot, sessions and idempotency behave exactly as over HTTP, and the `/mcp` request alone
 * counts against the request rate. What the route would refuse is its problem, as a tool error.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { jsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/types.js";
import { version } from "../../package.json";
import { asProblem, problemBody } from "../api/problem";
import { fromBase64, toBase64 } from "../bytes";
import { LIMITS, SESSION_LIMITS } from "../config";
import type { AppContext, AppEnv } from "../env";
import { admitInSession, admitOnce } from "../execution/admit";
import { tenantAuth } from "../middleware/auth";
import { bodyTooLarge } from "../middleware/body-limit";
import { jsonBody } from "../middleware/json-body";
import { rateLimit } from "../middleware/rate-limit";
import { listFiles, readFile, workspacePath, writeFile } from "../routes/files";
import { createSession } from "../routes/sessions";
import { restoreSnapshot, takeSnapshot } from "../routes/snapshots";
import {
  ExecutionRequest,
  ExecutionResult,
  JSON_TYPES,
  ProblemDetails,
} from "../schemas/execution";
import {
  FileList,
  NewSession,
  SessionCreated,
  SessionId,
  SessionInfo,
  SnapshotCreated,
  SnapshotId,
} from "../schemas/session";
import { hasCallbackTools, Tools } from "../schemas/tools";

const SERVER_INFO = { name: "cordon", version };

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
    "JavaScript or TypeScript, an ES module with top-level await. The result is the default export (a function is called with `input`) or else the completion value of the top-level statements, as in a REPL. With language python: Python 3 (Pyodide, standard library, top-level await); the result is the value of the last top-level expression, as Jupyter shows it; `input` is a dict.",
  ),
  input: ExecutionRequest.shape.input.meta({
    type: JSON_TYPES,
    description: "Any JSON value; the code reads it as `input`.",
  }),
  tools: Tools.refine((tools) => !hasCallbackTools(tools), {
    message:
      "only MCP servers here: callback tools are answered over POST /v1/execute's event stream",
  })
    .optional()
    .describe(
      'MCP servers the code calls as globals, by namespace: { "<ns>": { "mcp": { "url", "headers"? } } }; `await ns.tool(args)`.',
    ),
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
const snapshotIdArg = SnapshotId.describe("A snapshot id from snapshot_session (snp_…).");
const RestoreArgs = SessionArgs.extend({ snapshotId: snapshotIdArg });
const ForkArgs = SessionArgs.extend({
  snapshotId: snapshotIdArg
    .optional()
    .describe("Start from this snapshot of the session; without it, from its state now."),
  ttlSeconds: NewSession.shape.ttlSeconds,
});
const ReadFileArgs = SessionArgs.extend({ path: pathArg });
const WriteFileArgs = SessionArgs.extend({
  path: pathArg,
  content: z.string().describe("The file's content, as text or (encoding base64) as base64."),
  encoding: z.enum(["utf8", "base64"]).default("utf8"),
});

/** The MCP endpoint, for tenant API keys. */
export const mcp = new OpenAPIHono<AppEnv>();

mcp.use("/", tenantAuth(), rateLimit(), jsonBody());
mcp.post("/", async (c) => {
  const server = buildServer(c);
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
mcp.openAPIRegistry.registerPath({
  method: "post",
  path: "/",
  operationId: "mcp",
  summary:
    "Model Context Protocol (Streamable HTTP, stateless): tools execute, create_session, list_files, read_file, write_file, snapshot_session, restore_session, fork_session",
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
              description: "A JSON-RPC message; send Accept: application/json, text/event-stream.",
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

/** The tools, run for the tenant of `c`, the `/mcp` request. */
function buildServer(c: AppContext): McpServer {
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
    ({ sessionId, idempotencyKey, ...request }) =>
      answer(sessionId ? `/v1/sessions/${sessionId}/execute` : "/v1/execute", async () => {
        withinJsonCap(request);
        const run = sessionId
          ? await admitInSession(c, sessionId, request, idempotencyKey)
          : await admitOnce(c, request, idempotencyKey);
        const result = ExecutionResult.parse(await run({}));
        return {
          content: [{ type: "text", text: JSON.stringify(result) }],
          structuredContent: result,
          isError: result.status !== "ok",
        };
      }),
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
    (options) =>
      answer("/v1/sessions", async () => {
        withinJsonCap(options);
        return jsonResult(SessionCreated.parse(await createSession(c, options)));
      }),
  );

  server.registerTool(
    "list_files",
    {
      title: "List session files",
      description: "Lists the files in a session's workspace (/tmp/workspace).",
      inputSchema: SessionArgs,
      outputSchema: FileList,
    },
    ({ sessionId }) =>
      answer(`/v1/sessions/${sessionId}/files`, async () =>
        jsonResult(FileList.parse(await listFiles(c, sessionId))),
      ),
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
      return answer(fileRoute(sessionId, rel), async () => {
        const bytes = await readFile(c, sessionId, workspacePath(rel));
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
      });
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
        try {
          bytes = fromBase64(content.replace(/\s+/g, ""));
        } catch {
          return textError("content is not valid base64");
        }
      } else {
        bytes = new TextEncoder().encode(content);
      }
      const rel = workspaceRelative(path);
      if (rel === null) return badPath(path);
      return answer(fileRoute(sessionId, rel), async () => {
        // The file route's body cap holds for the same bytes sent through MCP.
        if (bytes.byteLength > SESSION_LIMITS.fileBytes) {
          throw bodyTooLarge(SESSION_LIMITS.fileBytes);
        }
        await writeFile(c, sessionId, workspacePath(rel), bytes);
        return { content: [{ type: "text", text: `wrote ${bytes.byteLength} bytes to ${rel}` }] };
      });
    },
  );

  server.registerTool(
    "snapshot_session",
    {
      title: "Snapshot a session",
      description:
        "Saves a session's variables and workspace files (after the execution in progress, if any) and returns a snapshotId: restore_session goes back to it, fork_session branches from it. A session keeps at most 16 snapshots.",
      inputSchema: SessionArgs,
      outputSchema: SnapshotCreated,
    },
    ({ sessionId }) =>
      answer(`/v1/sessions/${sessionId}/snapshots`, async () =>
        jsonResult(SnapshotCreated.parse(await takeSnapshot(c, sessionId))),
      ),
  );

  server.registerTool(
    "restore_session",
    {
      title: "Restore a session",
      description:
        "Rolls a session's variables and workspace files back to one of its snapshots (from snapshot_session), e.g. after a step that broke its state.",
      inputSchema: RestoreArgs,
      outputSchema: SessionInfo,
    },
    ({ sessionId, snapshotId }) =>
      answer(`/v1/sessions/${sessionId}/restore`, async () =>
        jsonResult(SessionInfo.parse(await restoreSnapshot(c, sessionId, snapshotId))),
      ),
  );

  server.registerTool(
    "fork_session",
    {
      title: "Fork a session",
      description:
        "Creates a new session starting from a session's state now, or from one of its snapshots: a branch whose variables and files then change independently of the original's. Returns the new sessionId.",
      inputSchema: ForkArgs,
      outputSchema: SessionCreated,
    },
    ({ sessionId, snapshotId, ttlSeconds }) =>
      answer("/v1/sessions", async () => {
        const from = { sessionId, ...(snapshotId === undefined ? {} : { snapshotId }) };
        const options = { from, ...(ttlSeconds === undefined ? {} : { ttlSeconds }) };
        return jsonResult(SessionCreated.parse(await createSession(c, options)));
      }),
  );

  return server;
}

/**
 * A tool's answer: what `work` answers, or the problem the route at `instance` would have
 * answered (a 404, a 429, a 500 with its logged id…) as a tool error the model can read and act on.
 */
async function answer(
  instance: string,
  work: () => Promise<CallToolResult>,
): Promise<CallToolResult> {
  try {
    return await work();
  } catch (err) {
    const problem = problemBody(asProblem(err), instance);
    return { content: [{ type: "text", text: JSON.stringify(problem) }], isError: true };
  }
}

const encoder = new TextEncoder();

/** A JSON route's body cap holds for the same arguments sent through MCP. */
function withinJsonCap(args: unknown): void {
  if (encoder.encode(JSON.stringify(args)).byteLength > LIMITS.requestBytes) {
    throw bodyTooLarge(LIMITS.requestBytes);
  }
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

function textError(text: string): CallToolResult {
  return { content: [{ type: "text", text }], isError: true };
}

/**
 * Code sees the workspace at /tmp/workspace; the files API takes paths relative to it. A dot
 * segment is refused outright (the files route would drop `.`): a path that climbs or wanders
 * is a mistake the model should see as one.
 */
function workspaceRelative(path: string): string | null {
  const segments = path
    .replace(/^\/tmp\/workspace(\/|$)/, "")
    .split("/")
    .filter(Boolean);
  if (segments.length === 0 || segments.some((s) => s === "." || s === "..")) return null;
  return segments.join("/");
}

/** The path of the file route a file tool stands for, which its problems name (`instance`). */
function fileRoute(sessionId: string, rel: string): string {
  return `/v1/sessions/${sessionId}/files/${rel.split("/").map(encodeURIComponent).join("/")}`;
}

const badPath = (path: string) =>
  textError(`invalid workspace path ${JSON.stringify(path)}: it must stay inside /tmp/workspace`);
