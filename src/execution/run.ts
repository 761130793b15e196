import { executionEgress } from "../egress/context";
import type { AppContext } from "../env";
import { recordIncident } from "../incidents";
import { backendFor } from "../sandbox/backends";
import { type ExecuteOptions, execute } from "../sandbox/executor";
import type { ExecutionRequestBody, ExecutionResultBody } from "../schemas/execution";
import { effectiveLimits } from "../schemas/policy";
import { tenantSecrets } from "../tenants/registry";

/** Runs an admitted execution for the request's tenant, recording incidents as they happen. */
export async function run(
  c: AppContext,
  body: ExecutionRequestBody,
  hash: string,
  options: ExecuteOptions = {},
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
  return execute(
    {
      backend: backendFor(c.env, (isolate) =>
        c.executionCtx.exports.Gateway({ props: { isolate } }),
      ),
      tenant,
      egress,
      memoryMb: effectiveLimits(c.get("policy")).memoryMb,
      onIncident: (reason, takesRuntimeDown) =>
        c.executionCtx.waitUntil(recordIncident(c.env, tenant, hash, reason, takesRuntimeDown)),
    },
    body,
    crypto.randomUUID(),
    options,
  );
}
