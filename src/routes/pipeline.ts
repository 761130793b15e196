import type { Context } from "hono";
import { badRequest, Problem, tooLarge } from "../api/problem";
import { executionEgress } from "../egress/context";
import type { Env } from "../env";
import { codeHash, recordIncident, refuseQuarantined } from "../incidents";
import { LIMITS } from "../limits";
import type { AuthVariables } from "../middleware/auth";
import { execute, type SessionRun } from "../sandbox/executor";
import { backendFor } from "../sandbox/runtime";
import type { ExecutionRequestBody, ExecutionResultBody } from "../schemas/execution";

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
  await refuseQuarantined(c.env, hash);
  return hash;
}

/** Runs an admitted execution for the request's tenant, recording incidents as they happen. */
export async function run(
  c: Ctx,
  body: ExecutionRequestBody,
  hash: string,
  session?: SessionRun,
): Promise<ExecutionResultBody> {
  const tenant = c.get("tenant");
  // Tenant ∩ session ∩ request: each a layer that must allow, so none can widen another.
  const egress = await executionEgress(c.env, {
    tenant,
    tenantPolicy: c.get("policy").egress,
    session: session?.egress,
    request: body.egress,
    hasSecrets: c.get("hasSecrets"),
  });
  return execute(
    {
      backend: backendFor(c.env, (executionId, isolate) =>
        c.executionCtx.exports.Gateway({ props: { executionId, isolate } }),
      ),
      tenant,
      egress,
      onIncident: (reason, takesRuntimeDown) =>
        c.executionCtx.waitUntil(recordIncident(c.env, tenant, hash, reason, takesRuntimeDown)),
    },
    body,
    crypto.randomUUID(),
    undefined,
    session,
  );
}

/**
 * With an `Idempotency-Key` header, answers a retry (same key and body, per tenant, 24 h) with
 * the stored result instead of running the code again; the same key with another body is a 422.
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
  const claim = await store.claim(key, bodyHash);
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
  try {
    const result = await produce();
    await store.complete(key, JSON.stringify(result));
    return result;
  } catch (err) {
    await store.release(key);
    throw err;
  }
}
