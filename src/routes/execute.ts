import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { badRequest, tooLarge } from "../api/problem";
import type { Env } from "../env";
import { codeHash, recordIncident, refuseQuarantined } from "../incidents";
import { LIMITS } from "../limits";
import type { AuthVariables } from "../middleware/auth";
import { execute } from "../sandbox/executor";
import { backendFor } from "../sandbox/runtime";
import { ExecutionRequest, ExecutionResult, ProblemDetails } from "../schemas/execution";
import { validationHook } from "./validation";

const problem = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ProblemDetails } },
});

const executeRoute = createRoute({
  method: "post",
  path: "/v1/execute",
  summary: "Run code once in a fresh isolate",
  security: [{ bearer: [] }],
  request: {
    body: { required: true, content: { "application/json": { schema: ExecutionRequest } } },
  },
  responses: {
    200: {
      description: "The execution result (user-code errors and timeouts included)",
      content: { "application/json": { schema: ExecutionResult } },
    },
    400: problem("The body is not a valid execution request"),
    401: problem("No valid API key"),
    403: problem("The code took a runtime down recently and is quarantined"),
    413: problem("Code or input larger than 1 MiB"),
    415: problem("The body is not JSON"),
  },
});

const encoder = new TextEncoder();

/** `POST /v1/execute`. */
export const executeRoutes = new OpenAPIHono<{ Bindings: Env; Variables: AuthVariables }>({
  defaultHook: validationHook,
}).openapi(executeRoute, async (c) => {
  const body = c.req.valid("json");
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
  const tenant = c.get("tenant");
  const hash = await codeHash(body.language, body.code);
  await refuseQuarantined(c.env, hash);
  const result = await execute(
    {
      backend: backendFor(c.env, (executionId) =>
        c.executionCtx.exports.Gateway({ props: { executionId } }),
      ),
      tenant,
      onIncident: (reason, takesRuntimeDown) =>
        c.executionCtx.waitUntil(recordIncident(c.env, tenant, hash, reason, takesRuntimeDown)),
    },
    body,
    crypto.randomUUID(),
  );
  return c.json(result, 200);
});
