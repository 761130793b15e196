import { z } from "@hono/zod-openapi";
import { LIMITS } from "../config";
import { ruleErrors } from "../egress/policy";
import { nestsDeeperThan } from "./depth";
import { PackagePins, UsedPackage } from "./packages";

/**
 * Any JSON value, its type spelled out: some MCP clients and code generators refuse a property
 * schema without a `type`.
 */
export const JSON_TYPES = ["object", "array", "string", "number", "boolean", "null"];

import { Tools, ToolUse } from "./tools";

/** An egress rule: a host pattern string, or an object narrowing scheme, port, methods and paths. */
export const EgressRule = z
  .union([
    z.string().min(1).max(300),
    z
      .object({
        host: z.string().min(1).max(300),
        scheme: z.enum(["http", "https"]).optional(),
        port: z.number().int().min(1).max(65535).optional(),
        methods: z.array(z.string().min(1).max(16)).max(16).optional(),
        // A pattern rather than startsWith, which JSON Schema would spell as a format of zod's own.
        paths: z.array(z.string().regex(/^\//, "must start with /").max(1000)).max(64).optional(),
      })
      .strict(),
  ])
  // The gateway's own parser judges the rule, so what is accepted here is what it enforces.
  .superRefine((rule, ctx) => {
    for (const message of ruleErrors(rule)) ctx.addIssue({ code: "custom", message });
  })
  .openapi("EgressRule");

export const EgressPolicy = z
  .object({ allow: z.array(EgressRule).max(256) })
  .strict()
  .openapi("EgressPolicy");

export const ExecutionRequest = z
  .object({
    code: z.string().openapi({
      description: "JavaScript or TypeScript (an ES module), or Python (docs/python.md).",
    }),
    language: z.enum(["javascript", "typescript", "python"]).default("javascript"),
    input: z
      .unknown()
      // Checked before anything walks it: serializers recurse, and 10,000 levels overflow them.
      .refine((value) => !nestsDeeperThan(value, LIMITS.inputDepth), {
        message: `must nest arrays and objects at most ${LIMITS.inputDepth} levels deep`,
      })
      .optional()
      .meta({
        type: JSON_TYPES,
        description: `Any JSON value, at most ${LIMITS.inputDepth} levels deep; the global \`input\`.`,
      }),
    timeoutMs: z.number().int().min(1).max(LIMITS.maxTimeoutMs).default(LIMITS.timeoutMs),
    egress: EgressPolicy.optional().openapi({
      description: "Narrows the tenant's egress policy for this execution; never widens it.",
    }),
    packages: PackagePins.optional(),
    tools: Tools.optional(),
  })
  .strict()
  .openapi("ExecutionRequest", {
    example: { code: "const sum = input.a + input.b;\nsum", input: { a: 1, b: 2 } },
  });

export const LogEntry = z
  .object({
    level: z.enum(["log", "info", "warn", "error", "debug"]),
    message: z.string(),
    truncated: z.literal(true).optional(),
  })
  .openapi("LogEntry");

export const EgressAttempt = z
  .object({
    method: z.string(),
    url: z.string(),
    decision: z.enum(["allowed", "denied"]),
    reason: z.string(),
    status: z.number().int().optional(),
    bytes: z.number().int().optional(),
    ms: z.number().optional(),
  })
  .openapi("EgressAttempt");

export const ExecutionResult = z
  .object({
    executionId: z.string(),
    status: z.enum(["ok", "error", "timeout", "killed"]),
    result: z
      .unknown()
      .optional()
      .meta({ type: JSON_TYPES, description: "The result (status ok), as JSON." }),
    error: z
      .object({
        name: z.string(),
        message: z.string(),
        line: z.number().int().optional(),
        column: z.number().int().optional(),
        stack: z.string().optional().openapi({ description: "Python: the traceback." }),
      })
      .optional(),
    logs: z.array(LogEntry),
    egress: z.array(EgressAttempt),
    redactions: z.array(z.object({ kind: z.string(), where: z.enum(["result", "logs", "error"]) })),
    usage: z.object({ wallMs: z.number(), subrequests: z.number().int() }),
    packages: z.array(UsedPackage).optional().openapi({
      description:
        "The npm packages the code imported, dependencies included (only when it imported any).",
    }),
    tools: z
      .array(ToolUse)
      .optional()
      .openapi({ description: "The tool calls the code made, in order (with `tools` only)." }),
  })
  .openapi("ExecutionResult");

export const ProblemDetails = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
    errorId: z.string().optional(),
  })
  .openapi("Problem");

/** An OpenAPI response that is a problem (the same shape for every route's errors). */
export const problemDoc = (description: string) => ({
  description,
  content: { "application/problem+json": { schema: ProblemDetails } },
});

export type ExecutionRequestBody = z.infer<typeof ExecutionRequest>;
export type ExecutionResultBody = z.infer<typeof ExecutionResult>;
export type LogEntryBody = z.infer<typeof LogEntry>;
export type EgressAttemptBody = z.infer<typeof EgressAttempt>;
export type EgressPolicyBody = z.infer<typeof EgressPolicy>;

/** `Accept: text/event-stream` answers: events `log`, `egress`, then `result` (or `error`). */
export const EventStream = z.string().openapi({
  description:
    "Server-sent events: `log` (a LogEntry), `egress` (an EgressAttempt as decided) and `tool_call` (a ToolCallEvent, answered with POST /v1/executions/{executionId}/tool-calls/{callId}) while the code runs, then `result` (the ExecutionResult) or `error` (a Problem).",
});
