import { runnerEgress } from "../egress/audit";
import { EGRESS_HEADERS } from "../runner/protocol";
import { NO_TOOLS, toolCallsOf } from "./registry";

/**
 * A guest's tool call forwarded by its runner (src/runner): only a runner given the execution
 * knows its egress token, so only it can call the execution's tools. Answers what the capability
 * answers the guest.
 */
export async function serveRunnerToolCall(request: Request): Promise<Response> {
  const executionId = request.headers.get(EGRESS_HEADERS.execution) ?? "";
  const token = request.headers.get(EGRESS_HEADERS.token) ?? "";
  if (request.method !== "POST" || runnerEgress(executionId, token) === undefined) {
    await request.body?.cancel().catch(() => {});
    return new Response(JSON.stringify({ e: "the execution has ended" }));
  }
  const calls = toolCallsOf(executionId);
  if (!calls) return new Response(NO_TOOLS);
  let call: { n?: unknown; t?: unknown; a?: unknown };
  try {
    call = (await request.json()) as typeof call;
  } catch {
    return new Response(JSON.stringify({ e: "tool call unreadable" }));
  }
  const { n, t, a } = call;
  if (typeof n !== "string" || typeof t !== "string" || typeof a !== "string") {
    return new Response(JSON.stringify({ e: "tool call unreadable" }));
  }
  return new Response(await calls.call(n, t, a));
}
