import { WorkerEntrypoint } from "cloudflare:workers";
import type { Env } from "../env";
import { EGRESS_HEADERS } from "../runner/protocol";
import { recordAttempt, validEgressToken } from "./audit";

/** What a gateway instance knows about the execution it serves. */
export interface GatewayProps {
  executionId: string;
}

/** Header on a gateway answer that means "denied"; the guest harness turns it into a TypeError. */
export const DENIED_HEADER = "cordon-egress-denied";

/**
 * Decides one outbound request of an execution and records it in the execution's audit.
 * Until tenants carry an egress policy, every attempt is denied.
 */
export async function handleEgress(executionId: string, request: Request): Promise<Response> {
  const url = new URL(request.url);
  const reason = `egress is not allowed: no rule of the egress policy allows ${url.host}`;
  recordAttempt(executionId, {
    method: request.method,
    url: url.href,
    decision: "denied",
    reason,
  });
  return deny(`${request.method} ${url.href} denied: ${reason}`);
}

function deny(message: string): Response {
  return new Response(message, {
    status: 403,
    headers: { [DENIED_HEADER]: "1", "content-type": "text/plain" },
  });
}

/** Every guest's only way out when it runs in this worker's own LOADER. */
export class Gateway extends WorkerEntrypoint<Env, GatewayProps> {
  override fetch(request: Request): Promise<Response> {
    return handleEgress(this.ctx.props.executionId, request);
  }
}

/**
 * The control plane's egress socket for runner processes: a runner forwards each guest request
 * with the execution's id and egress token, so a runner can only spend the policy of a run it
 * was given.
 */
export class EgressIngress extends WorkerEntrypoint<Env> {
  override async fetch(request: Request): Promise<Response> {
    const executionId = request.headers.get(EGRESS_HEADERS.execution) ?? "";
    const token = request.headers.get(EGRESS_HEADERS.token) ?? "";
    const target = request.headers.get(EGRESS_HEADERS.target) ?? "";
    if (!validEgressToken(executionId, token)) {
      return deny(`egress denied: the execution is not running`);
    }
    const headers = new Headers(request.headers);
    for (const name of Object.values(EGRESS_HEADERS)) headers.delete(name);
    const forwarded = new Request(target, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
    });
    return handleEgress(executionId, forwarded);
  }
}
