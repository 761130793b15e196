import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { FileRefusal } from "../../durable-objects/session";
import { badRequest, notFound, Problem, tooLarge } from "../api/problem";
import { toBase64Url } from "../bytes";
import { SESSION_LIMITS } from "../config";
import type { Env } from "../env";
import type { AuthVariables } from "../middleware/auth";
import { signSessionToken } from "../middleware/auth/session-token";
import type { ExecuteOptions, SessionRun } from "../sandbox/executor";
import { EventStream, ExecutionRequest, ExecutionResult, problemDoc } from "../schemas/execution";
import {
  ExecutionHistory,
  FileList,
  NewSession,
  SessionCreated,
  SessionId,
  SessionInfo,
} from "../schemas/session";
import { admit, idempotent, respond, run, withExecutionSlot } from "./pipeline";
import { validationHook } from "./validation";

type AppEnv = { Bindings: Env; Variables: AuthVariables };
type Ctx = Context<AppEnv>;

const auth = [{ bearer: [] }];
const params = z.object({ id: SessionId });
const missing = problemDoc(
  "No such session (never created, deleted, expired, or another tenant's)",
);

/** The session's object: names are scoped by tenant, so no tenant can reach another's session. */
function sessionStub(c: Ctx, id: string) {
  return c.env.SESSION.getByName(`${c.get("tenant")}:${id}`);
}

const noSession = (id: string) => notFound(`no session ${id}`);

function newSessionId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(15));
  return `ses_${toBase64Url(bytes)}`;
}

/**
 * A workspace path as stored: relative, `/`-separated, no empty, `.` or `..` segments, so no
 * path can leave `/tmp/workspace`.
 */
export function workspacePath(raw: string): string {
  const segments = raw.split("/").filter((s) => s !== "" && s !== ".");
  const bad =
    segments.length === 0 ||
    raw.length > 512 ||
    segments.some((s) => s === ".." || s.includes("\\") || [...s].some((ch) => ch < " "));
  if (bad) {
    throw badRequest(`invalid workspace path ${JSON.stringify(raw)}`, [
      { path: "path", message: "must be a relative path inside the workspace, without '..'" },
    ]);
  }
  return segments.join("/");
}

const createRoute_ = createRoute({
  method: "post",
  path: "/v1/sessions",
  summary: "Create a session (variables and files persist between its executions)",
  security: auth,
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
  path: "/v1/sessions/{id}",
  summary: "Describe a session",
  security: auth,
  request: { params },
  responses: {
    200: { description: "The session", content: { "application/json": { schema: SessionInfo } } },
    401: problemDoc("No valid key or token"),
    404: missing,
  },
});

const deleteRoute = createRoute({
  method: "delete",
  path: "/v1/sessions/{id}",
  summary: "Delete a session and all of its data",
  security: auth,
  request: { params },
  responses: {
    204: { description: "Deleted" },
    401: problemDoc("No valid key or token"),
    404: missing,
  },
});

const historyRoute = createRoute({
  method: "get",
  path: "/v1/sessions/{id}/executions",
  summary: "The session's executions, newest last",
  security: auth,
  request: { params },
  responses: {
    200: {
      description: "The history",
      content: { "application/json": { schema: ExecutionHistory } },
    },
    401: problemDoc("No valid key or token"),
    404: missing,
  },
});

const executeRoute = createRoute({
  method: "post",
  path: "/v1/sessions/{id}/execute",
  summary: "Run code in a session: its variables and files carry over",
  security: auth,
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
    404: missing,
    409: problemDoc("Too many executions are waiting for this session"),
    413: problemDoc("Code or input larger than 1 MiB"),
  },
});

const listFilesRoute = createRoute({
  method: "get",
  path: "/v1/sessions/{id}/files",
  summary: "List the session's workspace files",
  security: auth,
  request: { params },
  responses: {
    200: { description: "The files", content: { "application/json": { schema: FileList } } },
    401: problemDoc("No valid key or token"),
    404: missing,
  },
});

/** `/v1/sessions/*`. */
export const sessionRoutes = new OpenAPIHono<AppEnv>({ defaultHook: validationHook })
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
    const tenant = c.get("tenant");
    const sessionId = newSessionId();
    const ttl = parsed.data.ttlSeconds ?? SESSION_LIMITS.defaultTtlSeconds;
    const { createdAt, expiresAt } = await sessionStub(c, sessionId).create(
      tenant,
      sessionId,
      ttl,
      parsed.data.egress,
    );
    // Valid as long as the session could live: its idle TTL never takes it past this.
    const token = await signSessionToken(c.env, {
      tenant,
      session: sessionId,
      exp: Date.parse(createdAt) + SESSION_LIMITS.maxLifetimeMs,
    });
    return c.json({ sessionId, token, expiresAt }, 201);
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
  .openapi(listFilesRoute, async (c) => {
    const { id } = c.req.valid("param");
    const files = await sessionStub(c, id).listFiles();
    if (!files) throw noSession(id);
    return c.json({ files }, 200);
  })
  .openapi(executeRoute, async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const hash = await admit(c, body);
    return respond(c, (options) =>
      idempotent(c, `session:${id}`, body, () => runInSession(c, id, body, hash, options)),
    );
  });

async function runInSession(
  c: Ctx,
  id: string,
  body: z.infer<typeof ExecutionRequest>,
  hash: string,
  options: ExecuteOptions,
) {
  const begun = await sessionStub(c, id).begin(crypto.randomUUID(), body.timeoutMs);
  const turn = begun.turn;
  if (!begun.state || !turn) {
    if (begun.refused === "gone") throw noSession(id);
    throw new Problem(
      409,
      "session-busy",
      "Session busy",
      `too many executions are waiting for session ${id} (at most ${SESSION_LIMITS.maxWaiting}, each for at most ${SESSION_LIMITS.maxWaitMs / 1000} s); retry later`,
    );
  }
  const session: SessionRun = {
    variables: begun.state.variables,
    files: begun.state.files,
    egress: begun.state.egress,
  };
  let result: Awaited<ReturnType<typeof run>>;
  try {
    // The slot is taken when the turn begins: executions waiting for their turn hold none, so
    // one session (one token) cannot take all of its tenant's slots.
    result = await withExecutionSlot(c, body.timeoutMs, () =>
      run(c, body, hash, { ...options, session }),
    );
  } catch (err) {
    await onSession(c, id, (stub) => stub.abandon(turn.executionId));
    throw err;
  }
  const history = {
    executionId: result.executionId,
    at: new Date().toISOString(),
    status: result.status,
    usage: result.usage,
    egress: result.egress,
  };
  const { notSaved, filesRefused } = await onSession(c, id, (stub) =>
    stub.commit(turn, history, session.after?.variables, session.after?.files),
  );
  if (notSaved) {
    result.logs.push({
      level: "warn",
      message: `variables and workspace changes not saved: ${
        notSaved === "gone"
          ? "the session was deleted or expired while this execution ran"
          : "this execution lost its turn in the session (it ran over its timeout by more than 30 s, or the session restarted), so a newer execution may have changed the session"
      }`,
    });
  } else if (filesRefused) {
    result.logs.push({
      level: "warn",
      message: `workspace changes not saved: ${refusalDetail(filesRefused)}`,
    });
  }
  return result;
}

/**
 * Calls the session's object, and once more on a fresh stub if that call failed: a stub breaks
 * when its object restarts while an execution runs. The turn fence makes the second call safe.
 */
async function onSession<T>(
  c: Ctx,
  id: string,
  call: (stub: ReturnType<typeof sessionStub>) => Promise<T>,
): Promise<T> {
  try {
    return await call(sessionStub(c, id));
  } catch (err) {
    console.warn(`session ${id}: retrying a call that failed on a fresh stub:`, err);
    return call(sessionStub(c, id));
  }
}

/** Why files were not stored, in words; the files API and a run's warn log say the same. */
function refusalDetail(refusal: FileRefusal): string {
  switch (refusal.reason) {
    case "too-large":
      return `the session's files would pass ${SESSION_LIMITS.fileBytes} bytes`;
    case "too-many":
      return `the session would hold more than ${SESSION_LIMITS.files} files`;
    case "conflict":
      return refusal.other.startsWith(`${refusal.path}/`)
        ? `${refusal.path} cannot be a file: it is the directory of ${refusal.other}`
        : `${refusal.path} needs ${refusal.other} to be a directory, but ${refusal.other} is a file`;
  }
}

/** The problem a refused file write answers: 413 past a cap, 409 for a path conflict. */
function fileRefused(refusal: FileRefusal): Problem {
  const detail = `${refusalDetail(refusal)}; nothing was stored`;
  return refusal.reason === "conflict"
    ? new Problem(409, "path-conflict", "Path conflict", detail)
    : tooLarge(detail);
}

/** Raw-bytes file routes, which OpenAPIHono's one-segment params cannot express. */
export const fileRoutes = new OpenAPIHono<AppEnv>();

fileRoutes.put("/v1/sessions/:id/files/:path{.+}", async (c) => {
  const id = sessionParam(c);
  const path = workspacePath(c.req.param("path"));
  const bytes = new Uint8Array(await c.req.arrayBuffer());
  const stored = await sessionStub(c, id).putFile(path, bytes);
  if (stored === "gone") throw noSession(id);
  if (stored !== "ok") throw fileRefused(stored);
  return c.body(null, 204);
});

fileRoutes.get("/v1/sessions/:id/files/:path{.+}", async (c) => {
  const id = sessionParam(c);
  const path = workspacePath(c.req.param("path"));
  const stub = sessionStub(c, id);
  const bytes = await stub.getFile(path);
  if (bytes)
    return new Response(bytes, { headers: { "content-type": "application/octet-stream" } });
  if (!(await stub.info())) throw noSession(id);
  throw notFound(`no file ${path} in session ${id}`);
});

fileRoutes.delete("/v1/sessions/:id/files/:path{.+}", async (c) => {
  const id = sessionParam(c);
  const path = workspacePath(c.req.param("path"));
  const deleted = await sessionStub(c, id).deleteFile(path);
  if (deleted === "gone") throw noSession(id);
  if (deleted === "missing") throw notFound(`no file ${path} in session ${id}`);
  return c.body(null, 204);
});

function sessionParam(c: Ctx): string {
  const id = c.req.param("id") ?? "";
  if (!SessionId.safeParse(id).success) throw noSession(id);
  return id;
}

for (const method of ["put", "get", "delete"] as const) {
  fileRoutes.openAPIRegistry.registerPath({
    method,
    path: "/v1/sessions/{id}/files/{path}",
    summary:
      method === "put"
        ? "Store a workspace file (raw bytes); 413 past the session's 10 MiB or 1,000 files, 409 for a path that clashes with a file"
        : method === "get"
          ? "Read a workspace file (raw bytes)"
          : "Delete a workspace file",
    security: auth,
    request: {
      params: z.object({
        id: SessionId,
        path: z.string().openapi({ param: { name: "path", in: "path" } }),
      }),
      ...(method === "put"
        ? {
            body: {
              content: {
                "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) },
              },
            },
          }
        : {}),
    },
    responses: {
      ...(method === "get"
        ? {
            200: {
              description: "The file",
              content: {
                "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) },
              },
            },
          }
        : { 204: { description: "Done" } }),
      400: problemDoc("The path leaves the workspace"),
      401: problemDoc("No valid key or token"),
      404: missing,
      ...(method === "put"
        ? {
            409: problemDoc(
              "The path needs a directory where a file is, or is a directory of other files; nothing was stored",
            ),
            413: problemDoc("Past the session's file caps; nothing was stored"),
          }
        : {}),
    },
  });
}
