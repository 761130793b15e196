import { OpenAPIHono } from "@hono/zod-openapi";
import { asProblem, notFound, Problem, problemResponse } from "./api/problem";
import { LIMITS } from "./config";
import type { AppEnv } from "./env";
import { mcp } from "./mcp";
import { tenantAuth } from "./middleware/auth";
import { limitBody } from "./middleware/body-limit";
import { rateLimit } from "./middleware/rate-limit";
import { requestLog } from "./middleware/request-log";
import { admin } from "./routes/admin";
import { executions } from "./routes/executions";
import { files } from "./routes/files";
import { health } from "./routes/health";
import { sessions } from "./routes/sessions";
import { toolCalls, toolTypes } from "./routes/tools";
import { validationHook } from "./routes/validation";

/**
 * Builds the Hono application: the request log, one sub-app per resource (each with its own
 * auth, limits and body checks), `/openapi.json`, and one answer for errors and unknown routes.
 */
export function createApp() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.use(requestLog());
  app.route("/healthz", health);
  app.route("/v1/admin", admin);
  app.route("/v1/execute", executions);
  // Ahead of the session's other routes, whose scope would otherwise take file paths too.
  app.route("/v1/sessions/:id/files", files);
  app.route("/v1/sessions", sessions);
  app.route("/v1/executions", toolCalls);
  app.route("/v1/tools", toolTypes);
  // The rest of /v1 is no route, but a tenant still needs a key to learn so, and pays for asking.
  app.use("/v1/*", tenantAuth(), rateLimit(), limitBody(LIMITS.requestBytes));
  app.route("/mcp", mcp);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "A tenant API key (or a session token on that session's routes)",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "Cordon",
      version: "1.0.0",
      description: "Code-execution sandbox for AI agents (v1 contract).",
    },
  });

  app.notFound((c) => {
    const allowed = allowedMethods(app.routes, c.req.path);
    if (allowed.length > 0) {
      return problemResponse(
        c,
        new Problem(
          405,
          "method-not-allowed",
          "Method not allowed",
          `${c.req.method} is not allowed on ${c.req.path}; use ${allowed.join(", ")}`,
          {},
          { allow: allowed.join(", ") },
        ),
      );
    }
    return problemResponse(c, notFound(`no route for ${c.req.method} ${c.req.path}`));
  });
  // A `Problem` answers as itself, as does an HTTPException of Hono or its validators (415, 413,
  // 400, each with its status); anything else is a logged 500 that reveals nothing.
  app.onError((err, c) => problemResponse(c, asProblem(err)));
  return app;
}

function allowedMethods(routes: { method: string; path: string }[], path: string): string[] {
  const methods = new Set<string>();
  for (const route of routes) {
    if (route.method === "ALL") continue;
    const pattern = new RegExp(
      `^${route.path.replace(/\/:[^/]+\{[^}]*\}|\/:[^/]+/g, "/[^/]+").replace(/\/\*$/, "/.*")}$`,
    );
    if (pattern.test(path)) methods.add(route.method);
  }
  return [...methods];
}
