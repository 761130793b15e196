import { badRequest, tooLarge } from "../api/problem";
import { LIMITS } from "../config";
import type { AppContext } from "../env";
import { codeHash, refuseQuarantined } from "../incidents";
import type { ExecutionRequestBody, ExecutionResultBody } from "../schemas/execution";
import { hasCallbackTools } from "../schemas/tools";
import { idempotent } from "./idempotency";
import { acquireLease } from "./lease";
import { type RunOptions, run } from "./run";
import { runInSession } from "./session";
import { wantsEventStream } from "./stream";

/**
 * An admitted execution, not started yet: call it once, with how the answer wants the run's
 * logs and egress attempts as they happen.
 */
export type AdmittedRun = (options: RunOptions) => Promise<ExecutionResultBody>;

/**
 * Admits one-shot code for the request's tenant and takes one of its execution slots. What is
 * refused (413, 400, 403 quarantined, 429) is thrown here, before any answer has started; the
 * run answers a retry with the same `idempotencyKey` from the stored result.
 */
export async function admitOnce(
  c: AppContext,
  body: ExecutionRequestBody,
  idempotencyKey: string | undefined,
): Promise<AdmittedRun> {
  const hash = await admit(c, body);
  // Taken once the body has been read and checked: a slow client holds no slot while it sends.
  const lease = await acquireLease(c, body.timeoutMs);
  return (options) =>
    lease.hold(() =>
      idempotent(c, "execute", idempotencyKey, body, () => run(c, body, hash, options)),
    );
}

/**
 * Admits code for the next turn of session `sessionId`. Its execution slot is taken when the
 * turn begins, so executions waiting for their turn hold none.
 */
export async function admitInSession(
  c: AppContext,
  sessionId: string,
  body: ExecutionRequestBody,
  idempotencyKey: string | undefined,
): Promise<AdmittedRun> {
  const hash = await admit(c, body);
  return (options) =>
    idempotent(c, `session:${sessionId}`, idempotencyKey, body, () =>
      runInSession(c, sessionId, body, hash, options),
    );
}

const encoder = new TextEncoder();

/** Checks what the schema cannot: byte sizes, the tenant's timeout ceiling, the quarantine. */
async function admit(c: AppContext, body: ExecutionRequestBody): Promise<string> {
  if (encoder.encode(body.code).byteLength > LIMITS.codeBytes) {
    throw tooLarge(`code is larger than ${LIMITS.codeBytes} bytes`);
  }
  const inputJson = body.input === undefined ? "" : JSON.stringify(body.input);
  if (encoder.encode(inputJson).byteLength > LIMITS.inputBytes) {
    throw tooLarge(`input is larger than ${LIMITS.inputBytes} bytes`);
  }
  if (hasCallbackTools(body.tools) && !wantsEventStream(c.req.header("accept"))) {
    throw badRequest(
      "callback tools are answered over the event stream: send Accept: text/event-stream",
      [{ path: "tools", message: "callback namespaces need Accept: text/event-stream" }],
    );
  }
  const ceiling = c.get("policy").limits?.timeoutMs ?? LIMITS.maxTimeoutMs;
  if (body.timeoutMs > ceiling) {
    throw badRequest(`timeoutMs is over this tenant's ceiling of ${ceiling} ms`, [
      { path: "timeoutMs", message: `must be at most ${ceiling}` },
    ]);
  }
  const hash = await codeHash(body.language, body.code);
  await refuseQuarantined(c.env, c.get("tenant"), hash);
  return hash;
}
