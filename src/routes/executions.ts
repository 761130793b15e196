import { createRoute, OpenAPIHono } from "@hono/zod-openapi";
import { LIMITS } from "../config";
import type { AppEnv } from "../env";
import { admitOnce } from "../execution/admit";
import { respond } from "../execution/stream";
import { tenantAuth } from "../middleware/auth";
import { limitBody } from "../middleware/body-limit";
import { jsonBody } from "../middleware/json-body";
import { rateLimit } from "../middleware/rate-limit";
import { EventStream, ExecutionRequest, ExecutionResult, problemDoc } from "../schemas/execution";
import { bearer, unmatched } from "./shared";
import { validationHook } from "./validation";

const executeRoute = createRoute({
  method: "post",
  path: "/",
  summary: "Run code once in a fresh isolate",
  security: bearer,
  middleware: jsonBody(),
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

/** `POST /v1/execute`, for tenant API keys. */
export const executions = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

executions.use(tenantAuth(), rateLimit(), limitBody(LIMITS.requestBytes));
executions.openapi(executeRoute, async (c) => {
  const body = c.req.valid("json");
  return respond(c, await admitOnce(c, body, c.req.header("idempotency-key")));
});
executions.all("*", unmatched);
