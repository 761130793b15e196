import type { Context } from "hono";
import { badRequest, Problem, problemBody, tooLarge } from "../api/problem";
import { LEASE_MARGIN_MS, LIMITS } from "../config";
import { executionEgress } from "../egress/context";
import type { Env } from "../env";
import { codeHash, recordIncident, refuseQuarantined } from "../incidents";
import type { AuthVariables } from "../middleware/auth";
import {
  acquireExecutionLease,
  type ExecutionLease,
  wantsEventStream,
} from "../middleware/rate-limit";
import { type ExecuteOptions, execute } from "../sandbox/executor";
import { backendFor } from "../sandbox/runtime";
import type {
  EgressAttemptBody,
  ExecutionRequestBody,
  ExecutionResultBody,
} from "../schemas/execution";
import { effectiveLimits } from "../schemas/policy";
import { tenantSecrets } from "../tenants/registry";

type Ctx = Context<{ Bindings: Env; Variables: AuthVariables }>;

const encoder = new TextEncoder();

/** Checks what the schema cannot: byte sizes, the tenant's timeout ceiling, the quarantine. */
export async function admit(c: Ctx, body: ExecutionRequestBody): Promise<string> {
  if (encoder.encode(body.code).byteLength > LIMITS.codeBytes) {
    throw tooLarge(`code is larger than ${LIMITS.codeBytes} bytes`);
  }
  const inputJson = body.input === undefined ? "" : JSON.stringify(body.input);
  if (encoder.encode(inputJson).byteLength > LIMITS.inputBytes) {
    throw tooLarge(`input is larger than ${LIMITS.inputBytes} bytes`);
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

/** Runs an admitted execution for the request's tenant, recording incidents as they happen. */
export async function run(
  c: Ctx,
  body: ExecutionRequestBody,
  hash: string,
  options: ExecuteOptions = {},
): Promise<ExecutionResultBody> {
  const tenant = c.get("tenant");
  // Tenant ∩ session ∩ request: each a layer that must allow, so none can widen another.
  const egress = executionEgress(c.env, {
    tenantPolicy: c.get("policy").egress,
    session: options.session?.egress,
    request: body.egress,
    // A tenant known to have none spares the registry a call.
    secrets: c.get("hasSecrets") === false ? [] : await tenantSecrets(c.env, tenant),
  });
  return execute(
    {
      backend: backendFor(c.env, (executionId, isolate) =>
        c.executionCtx.exports.Gateway({ props: { executionId, isolate } }),
      ),
      tenant,
      egress,
      memoryMb: effectiveLimits(c.get("policy")).memoryMb,
      onIncident: (reason, takesRuntimeDown) =>
        c.executionCtx.waitUntil(recordIncident(c.env, tenant, hash, reason, takesRuntimeDown)),
    },
    body,
    crypto.randomUUID(),
    options,
  );
}

/**
 * With an `Idempotency-Key` header, answers a retry (same key and body on the same route, per
 * tenant, 24 h) with the stored result instead of running the code again; the same key with
 * another body is a 422. `scope` names the route: `execute` or `session:<id>`.
 */
export async function idempotent(
  c: Ctx,
  scope: string,
  body: ExecutionRequestBody,
  produce: () => Promise<ExecutionResultBody>,
): Promise<ExecutionResultBody> {
  const key = c.req.header("idempotency-key");
  if (key === undefined) return produce();
  if (key.length === 0 || key.length > 255) {
    throw badRequest("Idempotency-Key must be 1 to 255 characters", [
      { path: "Idempotency-Key", message: "must be 1 to 255 characters" },
    ]);
  }
  const store = c.env.IDEMPOTENCY.getByName(c.get("tenant"));
  const bodyHash = await codeHash(scope, JSON.stringify(body));
  const claim = await store.claim(scope, key, bodyHash, body.timeoutMs + LEASE_MARGIN_MS);
  if (claim.kind === "replay") return JSON.parse(claim.result) as ExecutionResultBody;
  if (claim.kind === "mismatch") {
    throw new Problem(
      422,
      "idempotency-key-reused",
      "Idempotency key reused",
      "this Idempotency-Key was used with a different request body",
    );
  }
  if (claim.kind === "running") {
    throw new Problem(
      409,
      "idempotency-key-in-use",
      "Request in progress",
      "a request with this Idempotency-Key is still running; retry when it has finished",
    );
  }
  let result: ExecutionResultBody;
  try {
    result = await produce();
  } catch (err) {
    // The request's own error is what the client must see; an unanswered claim lapses anyway.
    await store.release(scope, key, claim.token).catch((releaseErr: unknown) => {
      console.error(
        `releasing Idempotency-Key claim failed (it lapses with its lease):`,
        releaseErr,
      );
    });
    throw err;
  }
  try {
    await store.complete(scope, key, claim.token, JSON.stringify(result));
  } catch (err) {
    // The code ran: its answer is delivered. A retry after the claim's lease runs it again.
    console.error(`storing the answer of an Idempotency-Key failed (the claim lapses):`, err);
  }
  return result;
}

/** How often a streamed execution checks that its client is still there. */
const KEEPALIVE_MS = 1_000;
/** How long a streamed egress attempt may wait to be written (see `respond`). */
const EGRESS_RELAY_MS = 20;

/**
 * Holds one of the tenant's execution slots while `work` runs (a 429 problem when none is free),
 * and charges its wall time.
 */
export async function withExecutionSlot<T>(
  c: Ctx,
  timeoutMs: number,
  work: () => Promise<T>,
): Promise<T> {
  const lease = await acquireExecutionLease(c, timeoutMs);
  const started = Date.now();
  try {
    return await work();
  } finally {
    await lease.release(Date.now() - started);
  }
}

/**
 * Answers an execution as JSON, or, with `Accept: text/event-stream`, as server-sent events:
 * `log` and `egress` while the code runs, then `result` (the JSON answer's object), or `error`
 * with a problem. A client that goes away cancels the execution. `lease`, the execution slot
 * taken for the request if it took one before answering, is released when the answer is done.
 */
export async function respond(
  c: Ctx,
  produce: (options: ExecuteOptions) => Promise<ExecutionResultBody>,
  lease?: ExecutionLease,
): Promise<Response> {
  const started = Date.now();
  const release = async () => lease?.release(Date.now() - started);
  if (!wantsEventStream(c.req.header("accept"))) {
    try {
      return c.json(await produce({}), 200);
    } finally {
      await release();
    }
  }
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const cancel = new AbortController();
  const write = (text: string) => {
    if (cancel.signal.aborted) return;
    // A write fails once the client has disconnected: that cancels the run.
    writer.write(encoder.encode(text)).catch(() => cancel.abort());
  };
  const send = (event: string, data: unknown) =>
    write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const keepalive = setInterval(() => write(": keepalive\n\n"), KEEPALIVE_MS);
  // In-process, the gateway records an attempt in a request context of its own, and a stream
  // can only be written from the request that made it (from another, the write never settles
  // and the stream never ends): attempts wait here for this request's own timer, or its next log.
  const attempts: EgressAttemptBody[] = [];
  const sendAttempts = () => {
    for (let a = attempts.shift(); a !== undefined; a = attempts.shift()) send("egress", a);
  };
  const relay = setInterval(sendAttempts, EGRESS_RELAY_MS);
  const streaming = produce({
    onLog: (entry) => {
      sendAttempts();
      send("log", entry);
    },
    onEgress: (attempt) => attempts.push(attempt),
    signal: cancel.signal,
  })
    .then(
      (result) => {
        sendAttempts();
        send("result", result);
      },
      (err: unknown) => {
        sendAttempts();
        send("error", problemBody(c, err));
      },
    )
    .finally(async () => {
      clearInterval(relay);
      clearInterval(keepalive);
      try {
        await release();
      } finally {
        // Whatever happens to the slot, the client's stream ends.
        await writer.close().catch(() => {});
      }
    });
  c.executionCtx.waitUntil(streaming);
  return new Response(readable, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      "x-accel-buffering": "no",
    },
  });
}
