import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import { badRequest } from "../api/problem";
import { toBase64Url } from "../bytes";
import { LIMITS, SESSION_LIMITS } from "../config";
import type { AppContext, AppEnv } from "../env";
import { admitInSession } from "../execution/admit";
import { noSession, sessionStub } from "../execution/session";
import { respond } from "../execution/stream";
import { tenantAuth } from "../middleware/auth";
import { signSessionToken } from "../middleware/auth/session-token";
import { limitBody } from "../middleware/body-limit";
import { jsonBody } from "../middleware/json-body";
import { rateLimit } from "../middleware/rate-limit";
import { EventStream, ExecutionRequest, ExecutionResult, problemDoc } from "../schemas/execution";
import {
  ExecutionHistory,
  NewSession,
  type NewSessionBody,
  SessionCreated,
  SessionId,
  SessionInfo,
} from "../schemas/session";
import { bearer, missingSession, unmatched } from "./shared";
import { validationHook } from "./validation";

const params = z.object({ id: SessionId });
const requireJson = jsonBody();

function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(15));
  return `ses_${toBase64Url(bytes)}`;
}

const createRoute_ = createRoute({
  method: "post",
  path: "/",
  summary: "Create a session (variables and files persist between its executions)",
  security: bearer,
  middleware: requireJson,
  request: { body: { required: false, content: { "application/json": { schema: NewSession } } } },
  responses: {
    201: {
      description: "The session",
      content: { "application/json": { schema: SessionCreated } },
    },
    400: problemDoc("Invalid session options"),
    401: problemDoc("No valid API key"),
  },
});

const infoRoute = createRoute({
  method: "get",
  path: "/{id}",
  summary: "Describe a session",
  security: bearer,
  request: { params },
  responses: {
    200: { description: "The session", content: { "application/json": { schema: SessionInfo } } },
    401: problemDoc("No valid key or token"),
    404: missingSession,
  },
});

const deleteRoute = createRoute({
  method: "delete",
  path: "/{id}",
  summary: "Delete a session and all of its data",
  security: bearer,
  request: { params },
  responses: {
    204: { description: "Deleted" },
    401: problemDoc("No valid key or token"),
    404: missingSession,
  },
});

const historyRoute = createRoute({
  method: "get",
  path: "/{id}/executions",
  summary: "The session's executions, newest last",
  security: bearer,
  request: { params },
  responses: {
    200: {
      description: "The history",
      content: { "application/json": { schema: ExecutionHistory } },
    },
    401: problemDoc("No valid key or token"),
    404: missingSession,
  },
});

const executeRoute = createRoute({
  method: "post",
  path: "/{id}/execute",
  summary: "Run code in a session: its variables and files carry over",
  security: bearer,
  middleware: requireJson,
  request: {
    params,
    body: { required: true, content: { "application/json": { schema: ExecutionRequest } } },
  },
  responses: {
    200: {
      description: "The execution result",
      content: {
        "application/json": { schema: ExecutionResult },
        "text/event-stream": { schema: EventStream },
      },
    },
    400: problemDoc("Invalid execution request"),
    401: problemDoc("No valid key or token"),
    403: problemDoc("This tenant's code is quarantined"),
    404: missingSession,
    409: problemDoc("Too many executions are waiting for this session"),
    413: problemDoc("Code or input larger than 1 MiB"),
  },
});

/**
 * Makes a session for the request's tenant and signs its token, which is valid as long as the
 * session could live (its idle TTL never takes it past that).
 */
export async function createSession(c: AppContext, options: NewSessionBody) {
  const tenant = c.get("tenant");
  const sessionId = newSessionId();
  const ttl = options.ttlSeconds ?? SESSION_LIMITS.defaultTtlSeconds;
  const { createdAt, expiresAt } = await sessionStub(c, sessionId).create(
    tenant,
    sessionId,
    ttl,
    options.egress,
  );
  const token = await signSessionToken(c.env, {
    tenant,
    session: sessionId,
    exp: Date.parse(createdAt) + SESSION_LIMITS.maxLifetimeMs,
  });
  return { sessionId, token, expiresAt };
}

/**
 * `/v1/sessions` and each session's routes but its files (`files`). Creating a session takes an
 * API key; a session's own routes also take that session's token.
 */
export const sessions = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

const jsonLimit = limitBody(LIMITS.requestBytes);
sessions.use("/", tenantAuth(), rateLimit(), jsonLimit);
sessions.use("/:id/*", tenantAuth({ sessionParam: "id" }), rateLimit(), jsonLimit);
sessions
  .openapi(createRoute_, async (c) => {
    // The body is optional; when there is one it must be valid JSON.
    const text = await c.req.text();
    let body: unknown = {};
    if (text.trim() !== "") {
      try {
        body = JSON.parse(text);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        throw badRequest(`the request body is not valid JSON: ${message}`, [
          { path: "(body)", message },
        ]);
      }
    }
    const parsed = NewSession.safeParse(body);
    if (!parsed.success) {
      throw badRequest(
        "the session options are invalid",
        parsed.error.issues.map((i) => ({
          path: i.path.map(String).join(".") || "(body)",
          message: i.message,
        })),
      );
    }
    return c.json(await createSession(c, parsed.data), 201);
  })
  .openapi(infoRoute, async (c) => {
    const { id } = c.req.valid("param");
    const info = await sessionStub(c, id).info();
    if (!info) throw noSession(id);
    return c.json(info, 200);
  })
  .openapi(deleteRoute, async (c) => {
    const { id } = c.req.valid("param");
    if (!(await sessionStub(c, id).destroy())) throw noSession(id);
    return c.body(null, 204);
  })
  .openapi(historyRoute, async (c) => {
    const { id } = c.req.valid("param");
    const stub = sessionStub(c, id);
    if (!(await stub.info())) throw noSession(id);
    return c.json({ executions: await stub.executions() }, 200);
  })
  .openapi(executeRoute, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    return respond(c, await admitInSession(c, id, body, c.req.header("idempotency-key")));
  });
sessions.all("/", unmatched);
sessions.all("/:id/*", unmatched);
