import type { FileRefusal } from "../../durable-objects/session";
import { notFound, Problem } from "../api/problem";
import { SESSION_LIMITS } from "../config";
import type { AppContext } from "../env";
import type { SessionRun } from "../sandbox/executor";
import type { ExecutionRequestBody, ExecutionResultBody } from "../schemas/execution";
import { withLease } from "./lease";
import { type RunOptions, run } from "./run";

/** The session's object: names are scoped by tenant, so no tenant can reach another's session. */
export function sessionStub(c: AppContext, id: string) {
  return c.env.SESSION.getByName(sessionObjectName(c, id));
}

/** The name of a session's object, for the request's tenant. */
export function sessionObjectName(c: AppContext, id: string): string {
  return `${c.get("tenant")}:${id}`;
}

/** The 404 of a session that does not exist (or is another tenant's). */
export const noSession = (id: string) => notFound(`no session ${id}`);

/**
 * Runs an admitted execution as the session's next turn: waits for the turn, runs with the
 * session's variables and files in an execution slot, and commits what the run changed (or
 * abandons the turn when the run failed).
 */
export async function runInSession(
  c: AppContext,
  id: string,
  body: ExecutionRequestBody,
  hash: string,
  options: RunOptions,
): Promise<ExecutionResultBody> {
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
    id,
    variables: begun.state.variables,
    files: begun.state.files,
    egress: begun.state.egress,
    packages: begun.state.packages,
  };
  let result: ExecutionResultBody;
  try {
    // The slot is taken when the turn begins: executions waiting for their turn hold none, so
    // one session (one token) cannot take all of its tenant's slots.
    result = await withLease(c, body.timeoutMs, () =>
      run(c, body, hash, { ...options, session, sessionId: id }),
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
    stub.commit(
      turn,
      history,
      session.after?.variables,
      session.after?.files,
      session.after?.packages,
    ),
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
  c: AppContext,
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
export function refusalDetail(refusal: FileRefusal): string {
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
