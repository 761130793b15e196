import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { FileRefusal } from "../../durable-objects/session";
import { badRequest, notFound, Problem, tooLarge } from "../api/problem";
import { SESSION_LIMITS } from "../config";
import type { AppContext, AppEnv } from "../env";
import { noSession, refusalDetail, sessionStub } from "../execution/session";
import { tenantAuth } from "../middleware/auth";
import { limitBody } from "../middleware/body-limit";
import { rateLimit } from "../middleware/rate-limit";
import { problemDoc } from "../schemas/execution";
import { FileList, SessionId } from "../schemas/session";
import { bearer, missingSession, unmatched } from "./shared";
import { validationHook } from "./validation";

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

/** The files in a session's workspace. */
export async function listFiles(c: AppContext, id: string) {
  const files = await sessionStub(c, id).listFiles();
  if (!files) throw noSession(id);
  return { files };
}

/** Stores a file (`path` as `workspacePath` answers it) in a session's workspace. */
export async function writeFile(c: AppContext, id: string, path: string, bytes: Uint8Array) {
  const stored = await sessionStub(c, id).putFile(path, bytes);
  if (stored === "gone") throw noSession(id);
  if (stored !== "ok") throw fileRefused(stored);
}

/** A file of a session's workspace (`path` as `workspacePath` answers it). */
export async function readFile(c: AppContext, id: string, path: string): Promise<Uint8Array> {
  const stub = sessionStub(c, id);
  const bytes = await stub.getFile(path);
  if (bytes) return bytes;
  if (!(await stub.info())) throw noSession(id);
  throw notFound(`no file ${path} in session ${id}`);
}

/** The problem a refused file write answers: 413 past a cap, 409 for a path conflict. */
function fileRefused(refusal: FileRefusal): Problem {
  const detail = `${refusalDetail(refusal)}; nothing was stored`;
  return refusal.reason === "conflict"
    ? new Problem(409, "path-conflict", "Path conflict", detail)
    : tooLarge(detail);
}

const listFilesRoute = createRoute({
  method: "get",
  path: "/",
  summary: "List the session's workspace files",
  security: bearer,
  request: { params: z.object({ id: SessionId }) },
  responses: {
    200: { description: "The files", content: { "application/json": { schema: FileList } } },
    401: problemDoc("No valid key or token"),
    404: missingSession,
  },
});

/**
 * `/v1/sessions/{id}/files`: a session's workspace, for API keys and that session's token. A file
 * moves as raw bytes, as large as the session's whole file cap, so this is a scope of its own.
 */
export const files = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

files.use(tenantAuth({ sessionParam: "id" }), rateLimit(), limitBody(SESSION_LIMITS.fileBytes));

files.openapi(listFilesRoute, async (c) => {
  const { id } = c.req.valid("param");
  return c.json(await listFiles(c, id), 200);
});

// Raw-bytes routes, which OpenAPIHono's one-segment params cannot express.
files.put("/:path{.+}", async (c) => {
  const id = sessionParam(c);
  const path = workspacePath(c.req.param("path"));
  await writeFile(c, id, path, new Uint8Array(await c.req.arrayBuffer()));
  return c.body(null, 204);
});

files.get("/:path{.+}", async (c) => {
  const id = sessionParam(c);
  const bytes = await readFile(c, id, workspacePath(c.req.param("path")));
  return new Response(bytes, { headers: { "content-type": "application/octet-stream" } });
});

files.delete("/:path{.+}", async (c) => {
  const id = sessionParam(c);
  const path = workspacePath(c.req.param("path"));
  const deleted = await sessionStub(c, id).deleteFile(path);
  if (deleted === "gone") throw noSession(id);
  if (deleted === "missing") throw notFound(`no file ${path} in session ${id}`);
  return c.body(null, 204);
});

files.all("*", unmatched);

/** The session id of a raw-bytes route; one that cannot be a session's is a missing session. */
function sessionParam(c: AppContext): string {
  const id = c.req.param("id") ?? "";
  if (!SessionId.safeParse(id).success) throw noSession(id);
  return id;
}

for (const method of ["put", "get", "delete"] as const) {
  files.openAPIRegistry.registerPath({
    method,
    path: "/{path}",
    summary:
      method === "put"
        ? "Store a workspace file (raw bytes); 413 past the session's 10 MiB or 1,000 files, 409 for a path that clashes with a file"
        : method === "get"
          ? "Read a workspace file (raw bytes)"
          : "Delete a workspace file",
    security: bearer,
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
      404: missingSession,
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
