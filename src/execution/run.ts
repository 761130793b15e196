import { TOOL_LIMITS } from "../config";
import { executionEgress } from "../egress/context";
import type { AppContext } from "../env";
import { recordIncident } from "../incidents";
import { packagePolicy, packagesFor } from "../packages/service";
import { backendFor } from "../sandbox/backends";
import { type ExecuteOptions, execute } from "../sandbox/executor";
import type { ExecutionRequestBody, ExecutionResultBody } from "../schemas/execution";
import { effectiveLimits } from "../schemas/policy";
import type { ToolCallEventBody } from "../schemas/tools";
import { tenantSecrets } from "../tenants/registry";
import { ToolCalls } from "../tools/calls";
import { register } from "../tools/registry";

/** How an answer watches a run, and what of the request's context the run needs. */
export type RunOptions = Omit<ExecuteOptions, "tools"> & {
  /** Told of each callback tool call (the event stream's `tool_call`); without it they fail. */
  onToolCall?: (event: ToolCallEventBody) => void;
  /** The session the run is a turn of: that session's token may answer its tool calls. */
  sessionId?: string;
};

/** Runs an admitted execution for the request's tenant, recording incidents as they happen. */
export async function run(
  c: AppContext,
  body: ExecutionRequestBody,
  hash: string,
  { onToolCall, sessionId, ...options }: RunOptions = {},
): Promise<ExecutionResultBody> {
  const tenant = c.get("tenant");
  // Tenant ∩ session ∩ request: each a layer that must allow, so none can widen another.
  const egress = executionEgress(c.env, {
    tenantPolicy: c.get("policy").egress,
    session: options.session?.egress,
    request: body.egress,
    // A tenant known to have none spares the registry a call.
    secrets: c.get("hasSecrets") === false ? [] : await tenantSecrets(c.env, tenant),
  });
  const executionId = crypto.randomUUID();
  const policy = c.get("policy");
  const tools = body.tools
    ? new ToolCalls({
        executionId,
        tenant,
        ...(sessionId !== undefined ? { session: sessionId } : {}),
        tools: body.tools,
        cap: Math.min(
          policy.limits?.toolCalls ?? TOOL_LIMITS.callsPerExecution,
          TOOL_LIMITS.callsPerExecution,
        ),
        secrets: egress.secrets,
        timeoutMs: body.timeoutMs,
        ...(onToolCall ? { onCall: onToolCall } : {}),
      })
    : undefined;
  const unregister = tools ? register(tools) : undefined;
  try {
    return await runWith(c, body, hash, executionId, egress, {
      ...options,
      ...(tools ? { tools } : {}),
    });
  } finally {
    unregister?.();
  }
}

function runWith(
  c: AppContext,
  body: ExecutionRequestBody,
  hash: string,
  executionId: string,
  egress: ReturnType<typeof executionEgress>,
  options: ExecuteOptions,
): Promise<ExecutionResultBody> {
  const tenant = c.get("tenant");
  return execute(
    {
      backend: backendFor(c.env, (isolate) =>
        c.executionCtx.exports.Gateway({ props: { isolate } }),
      ),
      tenant,
      egress,
      memoryMb: effectiveLimits(c.get("policy")).memoryMb,
      packages: { resolver: packagesFor(c.env), policy: packagePolicy(c.get("policy")) },
      onIncident: (reason, takesRuntimeDown) =>
        c.executionCtx.waitUntil(recordIncident(c.env, tenant, hash, reason, takesRuntimeDown)),
    },
    body,
    executionId,
    options,
  );
}
