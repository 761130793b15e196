import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { httpProblem, internalError, notFound, Problem, problemResponse } from "./api/problem";
import { LIMITS, SESSION_LIMITS } from "./config";
import type { Env } from "./env";
import { mcpRoutes } from "./mcp";
import { type AuthVariables, tenantAuth } from "./middleware/auth";
import { limitBody } from "./middleware/body-limit";
import { jsonBody } from "./middleware/json-body";
import { rateLimit } from "./middleware/rate-limit";
import { requestLog } from "./middleware/request-log";
import { adminRoutes } from "./routes/admin";
import { executeRoutes } from "./routes/execute";
import { fileRoutes, sessionRoutes } from "./routes/sessions";
import { validationHook } from "./routes/validation";

type AppEnv = { Bindings: Env; Variables: AuthVariables };

const healthRoute = createRoute({
  method: "get",
  path: "/healthz",
  summary: "Liveness",
  responses: {
    200: {
      description: "The server answers",
      content: {
        "application/json": {
          schema: z
            .object({
              ok: z.literal(true),
              isolation: z.string().openapi({
                description: "How runner processes are isolated: namespaces, process or in-process",
                example: "namespaces",
              }),
              sandbox: z.array(z.string()).openapi({
                description:
                  "What contains each runner process besides its own process (docs/self-hosting.md); empty without runner processes or namespaces",
                example: [
                  "namespaces",
                  "no-network",
                  "minimal-filesystem",
                  "no-capabilities",
                  "seccomp",
                ],
              }),
            })
            .passthrough(),
        },
      },
    },
  },
});

/** Builds the Hono application: logging, auth, limits, routes, one error handler. */
export function createApp() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.use("*", requestLog());
  app.openapi(healthRoute, (c) =>
    c.json(
      {
        ok: true as const,
        isolation: c.env.CORDON_ISOLATION ?? "in-process",
        sandbox: c.env.CORDON_SANDBOX?.split(",").filter(Boolean) ?? [],
      },
      200,
    ),
  );

  app.route("/", adminRoutes);
  app.use("/v1/*", tenantAuth());
  app.use("/v1/*", rateLimit());
  const jsonLimit = limitBody(LIMITS.requestBytes);
  // A workspace file may be as large as the whole session's file cap.
  const fileLimit = limitBody(SESSION_LIMITS.fileBytes);
  app.use("/v1/*", (c, next) =>
    (c.req.method === "PUT" && /\/files\//.test(c.req.path) ? fileLimit : jsonLimit)(c, next),
  );
  // Every `/v1` POST takes JSON; `POST /v1/sessions` may have no body at all.
  const requireJson = jsonBody();
  app.use("/v1/*", (c, next) =>
    c.req.method === "POST" || c.req.method === "PATCH" ? requireJson(c, next) : next(),
  );

  app.route("/", executeRoutes);
  app.route("/", sessionRoutes);
  app.route("/", fileRoutes);
  app.use("/mcp", tenantAuth(), rateLimit(), requireJson);
  app.route("/", mcpRoutes(app));

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
  app.onError((err, c) => handleError(err, c));
  return app;
}

function handleError(err: Error, c: Context): Response {
  if (err instanceof Problem) return problemResponse(c, err);
  // Hono and its validators refuse requests with these (415, 413, 400): each keeps its status.
  if (err instanceof HTTPException) return problemResponse(c, httpProblem(err));
  return problemResponse(c, internalError(err));
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
