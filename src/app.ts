import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { SESSION_LIMITS } from "../durable-objects/session";
import {
  badRequest,
  internalError,
  notFound,
  Problem,
  problemResponse,
  tooLarge,
  unsupportedMediaType,
} from "./api/problem";
import type { Env } from "./env";
import { LIMITS } from "./limits";
import { mcpRoutes } from "./mcp";
import { type AuthVariables, tenantAuth } from "./middleware/auth";
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
      content: { "application/json": { schema: z.object({ ok: z.literal(true) }).passthrough() } },
    },
  },
});

/** Builds the Hono application: logging, auth, limits, routes, one error handler. */
export function createApp() {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.use("*", requestLog());
  app.openapi(healthRoute, (c) =>
    c.json({ ok: true as const, isolation: c.env.CORDON_ISOLATION ?? "in-process" }, 200),
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
  app.use("/v1/*", async function requireJson(c, next) {
    // A POST with a body must send JSON; `POST /v1/sessions` may have no body at all.
    const hasBody = c.req.header("content-length") !== "0" && c.req.raw.body !== null;
    if ((c.req.method === "POST" || c.req.method === "PATCH") && hasBody) {
      const type = c.req.header("content-type") ?? "";
      if (!/^application\/([\w.+-]+\+)?json\s*(;|$)/i.test(type)) throw unsupportedMediaType();
    }
    await next();
  });

  app.route("/", executeRoutes);
  app.route("/", sessionRoutes);
  app.route("/", fileRoutes);
  app.use("/mcp", tenantAuth(), rateLimit());
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

function limitBody(maxSize: number) {
  return bodyLimit({
    maxSize,
    onError: () => {
      throw tooLarge(`the request body is larger than ${maxSize} bytes`);
    },
  });
}

function handleError(err: Error, c: Context): Response {
  if (err instanceof Problem) return problemResponse(c, err);
  if (err instanceof HTTPException && err.status === 400) {
    const detail = `the request body is not valid JSON: ${err.message}`;
    return problemResponse(c, badRequest(detail, [{ path: "(body)", message: err.message }]));
  }
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
