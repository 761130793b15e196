import { OpenAPIHono } from "@hono/zod-openapi";
import type { Context } from "hono";
import { asProblem, notFound, Problem, problemResponse } from "./api/problem";
import type { AppEnv } from "./env";
import { mcp } from "./mcp";
import { requestLog } from "./middleware/request-log";
import { admin } from "./routes/admin";
import { executions } from "./routes/executions";
import { files } from "./routes/files";
import { health } from "./routes/health";
import { playground } from "./routes/playground";
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
  // A path no route has is a 404 before any auth: a typo in a URL should say so, not ask for a key.
  let table: RouteTable | undefined;
  app.use(async (c, next) => {
    table ??= routeTable(app.routes);
    if (table.methods(c.req.path).length === 0) return unknownRoute(c);
    await next();
  });
  app.route("/", playground);
  app.route("/healthz", health);
  app.route("/v1/admin", admin);
  app.route("/v1/execute", executions);
  // Ahead of the session's other routes, whose scope would otherwise take file paths too.
  app.route("/v1/sessions/:id/files", files);
  app.route("/v1/sessions", sessions);
  app.route("/v1/executions", toolCalls);
  app.route("/v1/tools", toolTypes);
  app.route("/mcp", mcp);

  app.openAPIRegistry.registerComponent("securitySchemes", "bearer", {
    type: "http",
    scheme: "bearer",
    description: "A tenant API key (or a session token on that session's routes)",
  });
  // The server is the one that served the document, as its client reached it.
  app.doc31("/openapi.json", (c) => ({
    openapi: "3.1.0",
    servers: [{ url: new URL(c.req.url).origin }],
    info: {
      title: "Cordon",
      version: "1.0.0",
      description: "Code-execution sandbox for AI agents (v1 contract).",
    },
  }));

  app.notFound((c) => {
    table ??= routeTable(app.routes);
    const allowed = table.methods(c.req.path);
    if (allowed.length === 0) return unknownRoute(c);
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
  });
  // A `Problem` answers as itself, as does an HTTPException of Hono or its validators (415, 413,
  // 400, each with its status); anything else is a logged 500 that reveals nothing.
  app.onError((err, c) => problemResponse(c, asProblem(err)));
  return app;
}

function unknownRoute(c: Context) {
  return problemResponse(c, notFound(`no route for ${c.req.method} ${c.req.path}`));
}

interface RouteTable {
  /** The methods some route takes on `path`; none means no route has the path. */
  methods(path: string): string[];
}

/** The app's routes as patterns, compiled once (the routes are all added by then). */
function routeTable(routes: { method: string; path: string }[]): RouteTable {
  const patterns = routes
    .filter((route) => route.method !== "ALL")
    .map((route) => ({
      method: route.method,
      // `:name{regex}` matches its regex (a file path spans slashes), `:name` one segment.
      pattern: new RegExp(
        `^${route.path
          .replace(/\/:[^/{]+\{([^}]*)\}/g, "/(?:$1)")
          .replace(/\/:[^/]+/g, "/[^/]+")
          .replace(/\/\*$/, "/.*")}$`,
      ),
    }));
  return {
    methods(path) {
      const methods = new Set<string>();
      for (const { method, pattern } of patterns) if (pattern.test(path)) methods.add(method);
      return [...methods];
    },
  };
}
