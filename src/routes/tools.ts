import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { notFound, Problem, unauthorized } from "../api/problem";
import { LIMITS, TOOL_LIMITS } from "../config";
import { InFlight } from "../egress/audit";
import { executionEgress } from "../egress/context";
import type { AppEnv } from "../env";
import { tenantAuth } from "../middleware/auth";
import { TOKEN_PREFIX, verifySessionToken } from "../middleware/auth/session-token";
import { limitBody } from "../middleware/body-limit";
import { jsonBody } from "../middleware/json-body";
import { rateLimit } from "../middleware/rate-limit";
import { problemDoc } from "../schemas/execution";
import {
  isMcpNamespace,
  ToolCallAnswer,
  ToolTypesRequest,
  ToolTypesResult,
} from "../schemas/tools";
import { tenantSecrets } from "../tenants/registry";
import { listTools, McpFailure } from "../tools/mcp";
import { findToolCalls } from "../tools/registry";
import { type DeclaredTool, declareTools } from "../tools/types";
import { bearer, unmatched } from "./shared";
import { validationHook } from "./validation";

const answerRoute = createRoute({
  operationId: "answerToolCall",
  method: "post",
  path: "/{executionId}/tool-calls/{callId}",
  summary: "Answer a tool call of a running execution",
  description:
    "The answer to a `tool_call` event of the execution's event stream: a result, or an error the code's call rejects with. Accepts the API keys of the execution's tenant, and the session token of the session it runs in.",
  security: bearer,
  middleware: jsonBody(),
  request: {
    params: z.object({ executionId: z.string().max(128), callId: z.string().max(128) }),
    body: { required: true, content: { "application/json": { schema: ToolCallAnswer } } },
  },
  responses: {
    204: { description: "The call is answered: the code's promise settles with it" },
    400: problemDoc("The body is not an answer"),
    401: problemDoc("No valid API key or session token"),
    404: problemDoc(
      "No such call waiting: unknown id, an execution that has ended, or another tenant's",
    ),
    409: problemDoc("The call is answered already"),
    413: problemDoc(`An answer larger than ${TOOL_LIMITS.answerBytes} bytes`),
    415: problemDoc("The body is not JSON"),
  },
});

/**
 * An API key of the tenant, or a session token: a token may answer only the calls of executions
 * running in its own session, which the route checks (the execution says where it runs).
 */
const answerAuth: MiddlewareHandler<AppEnv> = async (c, next) => {
  const token = /^Bearer\s+(\S+)\s*$/i.exec(c.req.header("authorization") ?? "")?.[1];
  if (token?.startsWith(TOKEN_PREFIX)) {
    const claims = await verifySessionToken(c.env, token);
    if (!claims) throw unauthorized();
    c.set("tenant", claims.tenant);
    c.set("sessionScope", claims.session);
    return next();
  }
  return tenantAuth()(c, next);
};

/**
 * `POST /v1/executions/{executionId}/tool-calls/{callId}`. Not rate-counted: an answer belongs to
 * an execution already admitted (and counted), whose cap bounds its calls.
 */
export const toolCalls = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

// The body is bounded before it is parsed: past the answer cap plus room for its JSON is 413.
toolCalls.use(answerAuth, limitBody(TOOL_LIMITS.answerBytes + 1024));
toolCalls.openapi(answerRoute, (c) => {
  const { executionId, callId } = c.req.valid("param");
  const answer = c.req.valid("json");
  const calls = findToolCalls(executionId, c.get("tenant"), c.get("sessionScope"));
  const outcome = calls?.answer(callId, answer) ?? "unknown";
  if (outcome === "already-answered") {
    throw new Problem(
      409,
      "tool-call-answered",
      "Tool call answered",
      `call ${callId} is answered already`,
    );
  }
  if (outcome === "unknown") {
    throw notFound(`no tool call ${callId} is waiting in execution ${executionId}`);
  }
  return c.body(null, 204);
});
toolCalls.all("*", unmatched);

const typesRoute = createRoute({
  operationId: "toolTypes",
  method: "post",
  path: "/types",
  summary: "TypeScript declarations of tools, for an agent's prompt",
  security: bearer,
  middleware: jsonBody(),
  request: {
    body: { required: true, content: { "application/json": { schema: ToolTypesRequest } } },
  },
  responses: {
    200: {
      description: "One `declare const` per namespace, argument types from the JSON Schemas",
      content: { "application/json": { schema: ToolTypesResult } },
    },
    400: problemDoc("The body is not `{ tools }`"),
    401: problemDoc("No valid API key"),
    415: problemDoc("The body is not JSON"),
    502: problemDoc("An MCP server could not be listed (refused by egress policy, or failed)"),
  },
});

/** `POST /v1/tools/types`. */
export const toolTypes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

toolTypes.use(tenantAuth(), rateLimit(), limitBody(LIMITS.requestBytes));
toolTypes.openapi(typesRoute, async (c) => {
  const { tools } = c.req.valid("json");
  const tenant = c.get("tenant");
  const namespaces: { name: string; tools: DeclaredTool[] }[] = [];
  const hasMcp = Object.values(tools).some(isMcpNamespace);
  const secrets = hasMcp && c.get("hasSecrets") !== false ? await tenantSecrets(c.env, tenant) : [];
  // Listing a server is outbound traffic of the tenant: its egress policy and secrets apply.
  const egress = new InFlight(
    executionEgress(c.env, { tenantPolicy: c.get("policy").egress, secrets }),
  );
  try {
    for (const [name, namespace] of Object.entries(tools)) {
      if (isMcpNamespace(namespace)) {
        try {
          const listed = await listTools(tenant, namespace.mcp, egress, secrets);
          namespaces.push({ name, tools: listed });
        } catch (err) {
          const detail = err instanceof McpFailure ? err.message : "the server could not be listed";
          throw new Problem(
            502,
            "mcp-server-failed",
            "MCP server failed",
            `namespace ${name}: ${detail}`,
          );
        }
      } else {
        namespaces.push({
          name,
          tools: Object.entries(namespace).map(([tool, spec]) => ({ name: tool, ...spec })),
        });
      }
    }
  } finally {
    egress.close();
  }
  return c.json({ typescript: declareTools(namespaces) }, 200);
});
toolTypes.all("*", unmatched);
