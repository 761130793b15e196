import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import type { Env } from "../env";
import type { AuthVariables } from "../middleware/auth";
import { acquireExecutionLease } from "../middleware/rate-limit";
import { EventStream, ExecutionRequest, ExecutionResult, problemDoc } from "../schemas/execution";
import { admit, idempotent, respond, run } from "./pipeline";
import { validationHook } from "./validation";

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
      content: {
        "application/json": { schema: ExecutionResult },
        "text/event-stream": { schema: EventStream },
      },
    },
    400: problemDoc("The body is not a valid execution request"),
    401: problemDoc("No valid API key"),
    403: problemDoc("This tenant's code took a runtime down recently and is quarantined"),
    413: problemDoc("Code or input larger than 1 MiB"),
    415: problemDoc("The body is not JSON"),
  },
});

/** `POST /v1/execute`. */
export const executeRoutes = new OpenAPIHono<{ Bindings: Env; Variables: AuthVariables }>({
  defaultHook: validationHook,
}).openapi(executeRoute, async (c) => {
  const body = c.req.valid("json");
  const hash = await admit(c, body);
  // Taken once the body has been read and checked: a slow client holds no slot while it sends.
  const lease = await acquireExecutionLease(c, body.timeoutMs);
  return respond(
    c,
    (options) => idempotent(c, "execute", body, () => run(c, body, hash, options)),
    lease,
  );
});
