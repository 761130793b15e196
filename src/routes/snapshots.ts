import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { notFound, Problem, tooLarge } from "../api/problem";
import { toBase64Url } from "../bytes";
import { SESSION_LIMITS, SNAPSHOT_LIMITS } from "../config";
import type { AppContext, AppEnv } from "../env";
import { noSession, sessionObjectName, sessionStub } from "../execution/session";
import { problemDoc } from "../schemas/execution";
import {
  RestoreRequest,
  SessionId,
  SessionInfo,
  SnapshotCreated,
  SnapshotId,
  SnapshotList,
} from "../schemas/session";
import { bearer, missingSession } from "./shared";

function newSnapshotId(): string {
  return `snp_${toBase64Url(crypto.getRandomValues(new Uint8Array(15)))}`;
}

const noSnapshot = (id: string, snapshotId: string) =>
  notFound(`no snapshot ${snapshotId} in session ${id}`);

/** The 409 of a session whose turn queue is full, as its executions get it. */
function busy(id: string): Problem {
  return new Problem(
    409,
    "session-busy",
    "Session busy",
    `too many executions are waiting for session ${id} (at most ${SESSION_LIMITS.maxWaiting}, each for at most ${SESSION_LIMITS.maxWaitMs / 1000} s); retry later`,
  );
}

/** Saves a session's state as a snapshot, once the run in progress (if any) has committed. */
export async function takeSnapshot(c: AppContext, id: string) {
  const taken = await sessionStub(c, id).snapshot(newSnapshotId());
  if (taken === "gone") throw noSession(id);
  if (taken === "busy") throw busy(id);
  if ("refused" in taken) {
    if (taken.refused === "too-many") {
      throw new Problem(
        409,
        "snapshot-limit",
        "Too many snapshots",
        `session ${id} holds ${SNAPSHOT_LIMITS.count} snapshots, its most; delete one first`,
      );
    }
    throw tooLarge(
      `this snapshot (${taken.bytes} bytes) would take session ${id}'s snapshots past ${SNAPSHOT_LIMITS.bytes} bytes; delete one first; nothing was stored`,
    );
  }
  return taken;
}

export async function listSnapshots(c: AppContext, id: string) {
  const snapshots = await sessionStub(c, id).listSnapshots();
  if (!snapshots) throw noSession(id);
  return { snapshots };
}

export async function deleteSnapshot(c: AppContext, id: string, snapshotId: string) {
  const deleted = await sessionStub(c, id).deleteSnapshot(snapshotId);
  if (deleted === "gone") throw noSession(id);
  if (deleted === "missing") throw noSnapshot(id, snapshotId);
}

/** Rolls a session back to one of its snapshots, between runs; answers the session as it is. */
export async function restoreSnapshot(c: AppContext, id: string, snapshotId: string) {
  const stub = sessionStub(c, id);
  const restored = await stub.restore(snapshotId);
  if (restored === "gone") throw noSession(id);
  if (restored === "busy") throw busy(id);
  if (restored === "missing") throw noSnapshot(id, snapshotId);
  const info = await stub.info();
  if (!info) throw noSession(id);
  return info;
}

/**
 * Creates the session `target` as a fork of a session's snapshot, or of its state now (a copy
 * taken between runs, dropped after). The new object copies the state itself, page by page, and
 * makes the session in one transaction: a fork that fails midway leaves nothing.
 */
export async function forkInto(
  c: AppContext,
  from: { sessionId: string; snapshotId?: string | undefined },
  target: string,
  ttlSeconds: number,
) {
  const source = sessionStub(c, from.sessionId);
  const opened = await source.exportSnapshot(from.snapshotId);
  if (opened === "gone") throw noSession(from.sessionId);
  if (opened === "busy") throw busy(from.sessionId);
  if (opened === "missing") throw noSnapshot(from.sessionId, from.snapshotId ?? "");
  try {
    const forked = await sessionStub(c, target).forkFrom(
      sessionObjectName(c, from.sessionId),
      opened.snapshotId,
      c.get("tenant"),
      target,
      ttlSeconds,
    );
    // The source session (or its snapshot) was deleted while it was copied.
    if (forked === "missing") throw noSession(from.sessionId);
    return forked;
  } finally {
    if (!from.snapshotId) {
      await source.endExport(opened.snapshotId).catch((cause: unknown) => {
        console.warn(`fork of ${from.sessionId}: its copy waits for the next snapshot:`, cause);
      });
    }
  }
}

const params = z.object({ id: SessionId });

const takeRoute = createRoute({
  operationId: "snapshotSession",
  method: "post",
  path: "/{id}/snapshots",
  summary: "Snapshot the session: its variables, files and egress narrowing (not its history)",
  security: bearer,
  request: { params },
  responses: {
    201: {
      description: "The snapshot",
      content: { "application/json": { schema: SnapshotCreated } },
    },
    401: problemDoc("No valid key or token"),
    404: missingSession,
    409: problemDoc(
      `The session holds ${SNAPSHOT_LIMITS.count} snapshots already, or too many executions wait for it`,
    ),
    413: problemDoc(
      `The session's snapshots would pass ${SNAPSHOT_LIMITS.bytes} bytes; nothing was stored`,
    ),
  },
});

const listRoute = createRoute({
  operationId: "listSnapshots",
  method: "get",
  path: "/{id}/snapshots",
  summary: "The session's snapshots, oldest first",
  security: bearer,
  request: { params },
  responses: {
    200: {
      description: "The snapshots",
      content: { "application/json": { schema: SnapshotList } },
    },
    401: problemDoc("No valid key or token"),
    404: missingSession,
  },
});

const deleteRoute = createRoute({
  operationId: "deleteSnapshot",
  method: "delete",
  path: "/{id}/snapshots/{snapshotId}",
  summary: "Delete a snapshot",
  security: bearer,
  request: { params: z.object({ id: SessionId, snapshotId: SnapshotId }) },
  responses: {
    204: { description: "Deleted" },
    401: problemDoc("No valid key or token"),
    404: problemDoc("No such session, or no such snapshot of it"),
  },
});

const restoreRoute = createRoute({
  operationId: "restoreSnapshot",
  method: "post",
  path: "/{id}/restore",
  summary: "Roll the session back to one of its snapshots (its history gets an entry saying so)",
  security: bearer,
  request: {
    params,
    body: { required: true, content: { "application/json": { schema: RestoreRequest } } },
  },
  responses: {
    200: {
      description: "The session, restored",
      content: { "application/json": { schema: SessionInfo } },
    },
    400: problemDoc("Invalid restore request"),
    401: problemDoc("No valid key or token"),
    404: problemDoc("No such session, or no such snapshot of it"),
    409: problemDoc("Too many executions are waiting for this session"),
  },
});

/** Adds a session's snapshot routes to `sessions`, under its auth and limits. */
export function snapshotRoutes(
  sessions: OpenAPIHono<AppEnv>,
  requireJson: MiddlewareHandler,
): void {
  sessions.openapi(takeRoute, async (c) => {
    const { id } = c.req.valid("param");
    return c.json(await takeSnapshot(c, id), 201);
  });
  sessions.openapi(listRoute, async (c) => {
    const { id } = c.req.valid("param");
    return c.json(await listSnapshots(c, id), 200);
  });
  sessions.openapi(deleteRoute, async (c) => {
    const { id, snapshotId } = c.req.valid("param");
    await deleteSnapshot(c, id, snapshotId);
    return c.body(null, 204);
  });
  sessions.openapi({ ...restoreRoute, middleware: requireJson }, async (c) => {
    const { id } = c.req.valid("param");
    const { snapshotId } = c.req.valid("json");
    return c.json(await restoreSnapshot(c, id, snapshotId), 200);
  });
}
