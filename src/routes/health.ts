import { createRoute, OpenAPIHono, z } from "@hono/zod-openapi";
import type { AppEnv } from "../env";

const healthRoute = createRoute({
  method: "get",
  path: "/",
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

/** `GET /healthz`, open to anyone. */
export const health = new OpenAPIHono<AppEnv>().openapi(healthRoute, (c) =>
  c.json(
    {
      ok: true as const,
      isolation: c.env.CORDON_ISOLATION ?? "in-process",
      sandbox: c.env.CORDON_SANDBOX?.split(",").filter(Boolean) ?? [],
    },
    200,
  ),
);
