// Executions with tools, by execution id: the caller's answer to a tool call arrives on a request
// of its own, which finds the execution's calls here; so does a runner process's tool call (its
// hop carries only the execution id and egress token, src/runner). The control plane runs in one
// isolate, so this is one map.
import type { ToolCalls } from "./calls";

/** What a guest gets for a tool call when its execution has no tools. */
export const NO_TOOLS = JSON.stringify({ e: "this execution has no tools" });

const running = new Map<string, ToolCalls>();

/** Makes `calls` findable by its execution id until the function answered is called. */
export function register(calls: ToolCalls): () => void {
  running.set(calls.executionId, calls);
  return () => {
    if (running.get(calls.executionId) === calls) running.delete(calls.executionId);
  };
}

/**
 * The tool calls of a running execution, if `tenant` runs it (and, for a session token, if it
 * runs in that session); anything else is as if there were none.
 */
export function findToolCalls(
  executionId: string,
  tenant: string,
  sessionScope: string | undefined,
): ToolCalls | undefined {
  const calls = running.get(executionId);
  if (calls === undefined || calls.tenant !== tenant) return undefined;
  if (sessionScope !== undefined && calls.session !== sessionScope) return undefined;
  return calls;
}

/** The tool calls of a running execution, for its runner (which has shown the egress token). */
export function toolCallsOf(executionId: string): ToolCalls | undefined {
  return running.get(executionId);
}
