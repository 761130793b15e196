import { z } from "@hono/zod-openapi";
import { SESSION_LIMITS } from "../config";
import { EgressAttempt, EgressPolicy } from "./execution";

export const SessionId = z
  .string()
  .regex(/^ses_[A-Za-z0-9_-]{8,64}$/, "must be a session id such as ses_4fJ9…")
  .openapi({ param: { name: "id", in: "path" }, example: "ses_Q2h3X9kLmN0pQrSt" });

export const NewSession = z
  .object({
    ttlSeconds: z
      .number()
      .int()
      .min(1)
      .max(SESSION_LIMITS.maxLifetimeMs / 1000)
      .optional()
      .openapi({
        description: "Idle time to live; each execution extends it, up to 24 h after creation.",
      }),
    egress: EgressPolicy.optional().openapi({
      description: "Narrows the tenant's egress policy for every execution in this session.",
    }),
  })
  .strict()
  .openapi("NewSession");

export const SessionCreated = z
  .object({
    sessionId: z.string(),
    token: z
      .string()
      .openapi({ description: "Works instead of the API key on this session's routes only." }),
    expiresAt: z.string(),
  })
  .openapi("SessionCreated");

export const SessionInfo = z
  .object({
    sessionId: z.string(),
    createdAt: z.string(),
    expiresAt: z.string(),
    executions: z.number().int(),
    variables: z.array(z.string()),
    files: z.number().int(),
  })
  .openapi("SessionInfo");

export const ExecutionHistory = z
  .object({
    executions: z.array(
      z.object({
        executionId: z.string(),
        at: z.string(),
        status: z.enum(["ok", "error", "timeout", "killed"]),
        usage: z.object({ wallMs: z.number(), subrequests: z.number().int() }),
        egress: z.array(EgressAttempt),
      }),
    ),
  })
  .openapi("ExecutionHistory");

export const FileList = z
  .object({
    files: z.array(z.object({ path: z.string(), size: z.number().int(), updatedAt: z.string() })),
  })
  .openapi("FileList");

export type NewSessionBody = z.infer<typeof NewSession>;
