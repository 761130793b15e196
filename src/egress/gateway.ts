import { WorkerEntrypoint } from "cloudflare:workers";
import type { Env } from "../env";
import { recordAttempt } from "./audit";

/** What a gateway instance knows about the execution it serves. */
export interface GatewayProps {
  executionId: string;
}

/** Header on a gateway answer that means "denied"; the guest harness turns it into a TypeError. */
export const DENIED_HEADER = "cordon-egress-denied";

/**
 * Every guest's only way out. Until tenants carry an egress policy, it denies every attempt and
 * records it in the execution's audit.
 */
export class Gateway extends WorkerEntrypoint<Env, GatewayProps> {
  override async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const reason = `egress is not allowed: no rule of the egress policy allows ${url.host}`;
    recordAttempt(this.ctx.props.executionId, {
      method: request.method,
      url: url.href,
      decision: "denied",
      reason,
    });
    return new Response(`${request.method} ${url.href} denied: ${reason}`, {
      status: 403,
      headers: { [DENIED_HEADER]: "1", "content-type": "text/plain" },
    });
  }
}
