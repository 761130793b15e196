import { badRequest, Problem } from "../api/problem";
import { LEASE_MARGIN_MS } from "../config";
import type { AppContext } from "../env";
import { codeHash } from "../incidents";
import type { ExecutionRequestBody, ExecutionResultBody } from "../schemas/execution";

/**
 * With an idempotency key (the `Idempotency-Key` header), answers a retry (same key and body on
 * the same route, per tenant, 24 h) with the stored result instead of running the code again; the
 * same key with another body is a 422. `scope` names the route: `execute` or `session:<id>`.
 */
export async function idempotent(
  c: AppContext,
  scope: string,
  key: string | undefined,
  body: ExecutionRequestBody,
  produce: () => Promise<ExecutionResultBody>,
): Promise<ExecutionResultBody> {
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
