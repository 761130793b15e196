import { z } from "@hono/zod-openapi";
import { DEFAULT_TENANT_LIMITS, MIN_MEMORY_MB, POLICY_CAPS, TOOL_LIMITS } from "../config";
import { ruleErrors } from "../egress/policy";
import { EgressPolicy } from "./execution";
import { PackagesPolicy } from "./packages";

export const TenantLimits = z
  .object({
    timeoutMs: z.number().int().min(1).max(POLICY_CAPS.timeoutMs).optional().openapi({
      description: "The longest timeout an execution request may ask for, in milliseconds.",
    }),
    rate: z.number().positive().max(POLICY_CAPS.rate).optional().openapi({
      description: "Requests per second (the token bucket's refill rate).",
    }),
    burst: z.number().int().min(1).max(POLICY_CAPS.burst).optional().openapi({
      description: "The token bucket's size: requests allowed at once after a quiet spell.",
    }),
    concurrency: z.number().int().min(1).max(POLICY_CAPS.concurrency).optional().openapi({
      description: "Executions in flight at once; past it an execution is answered 429.",
    }),
    wallMsPerMinute: z
      .number()
      .int()
      .positive()
      .max(POLICY_CAPS.wallMsPerMinute)
      .optional()
      .openapi({
        description: "Execution wall time, in milliseconds, the tenant may spend per minute.",
      }),
    memoryMb: z.number().int().min(MIN_MEMORY_MB).max(POLICY_CAPS.memoryMb).optional().openapi({
      description:
        "Memory one execution may use, in MB (default 128). Past it the execution is killed; on Cloudflare the platform's own per-isolate limit applies instead.",
    }),
    toolCalls: z
      .number()
      .int()
      .min(0)
      .max(TOOL_LIMITS.callsPerExecution)
      .optional()
      .openapi({
        description: `Tool calls one execution may make (default and most: ${TOOL_LIMITS.callsPerExecution}).`,
      }),
  })
  .strict()
  .openapi("TenantLimits");

export const Policy = z
  .object({
    egress: EgressPolicy.optional().openapi({
      description: "Hosts the tenant's code may reach; deny by default.",
    }),
    limits: TenantLimits.optional(),
    packages: PackagesPolicy.optional(),
  })
  .strict()
  .openapi("Policy", {
    example: {
      egress: { allow: ["api.github.com", { host: "*.example.com", methods: ["GET"] }] },
      packages: { allow: ["zod", "@acme/*"] },
      limits: {
        timeoutMs: 300_000,
        rate: 20,
        burst: 40,
        concurrency: 8,
        wallMsPerMinute: 600_000,
        memoryMb: 128,
      },
    },
  });

/** A secret's name as code reads it: `process.env.NAME`. */
export const SecretName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, "must be an environment variable name")
  .openapi({ param: { name: "name", in: "path" }, example: "GITHUB_TOKEN" });

/** Where in a request a secret's value may be put. */
export const SECRET_PLACES = ["header", "url", "body"] as const;
export const SecretPlace = z.enum(SECRET_PLACES);
export type SecretPlace = z.infer<typeof SecretPlace>;
/** Where a secret set without `in` may go: headers only. */
export const DEFAULT_SECRET_PLACES: readonly SecretPlace[] = ["header"];

export const Secret = z
  .object({
    value: z
      .string()
      .min(1)
      .max(16 * 1024),
    hosts: z
      .array(
        z
          .string()
          .min(1)
          .max(300)
          .superRefine((rule, ctx) => {
            for (const message of ruleErrors(rule)) ctx.addIssue({ code: "custom", message });
          }),
      )
      .min(1)
      .max(64)
      .openapi({
        description: "Hosts (egress rule syntax) whose requests get the real value.",
      }),
    in: z
      .array(SecretPlace)
      .min(1)
      .max(SECRET_PLACES.length)
      .refine((places) => new Set(places).size === places.length, "must not name a place twice")
      .optional()
      .openapi({
        description:
          'Where in a request the value may be put: any header (Basic credentials included), the URL\'s path or query, the body. Default `["header"]`; a placeholder anywhere else is refused.',
      }),
  })
  .strict()
  .openapi("Secret");

export type PolicyBody = z.infer<typeof Policy>;
export type SecretBody = z.infer<typeof Secret>;
/** A secret as stored and used: where it may go is always known. */
export type StoredSecret = SecretBody & { in: SecretPlace[] };
export type Limits = { [K in keyof typeof DEFAULT_TENANT_LIMITS]: number };

/** A policy's limits with the server default filled in for each one it leaves out. */
export function effectiveLimits(policy: PolicyBody): Limits {
  const set = policy.limits ?? {};
  const d = DEFAULT_TENANT_LIMITS;
  return {
    timeoutMs: set.timeoutMs ?? d.timeoutMs,
    rate: set.rate ?? d.rate,
    burst: set.burst ?? d.burst,
    concurrency: set.concurrency ?? d.concurrency,
    wallMsPerMinute: set.wallMsPerMinute ?? d.wallMsPerMinute,
    memoryMb: set.memoryMb ?? d.memoryMb,
  };
}
