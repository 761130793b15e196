import { exports } from "cloudflare:workers";
import type { ExecutionResultBody } from "../../src/schemas/execution";

export const API_KEY = "test-dev-key-0123456789";

/** Calls the worker's own fetch handler, as a client would over HTTP. */
export function call(path: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (!headers.has("authorization")) headers.set("authorization", `Bearer ${API_KEY}`);
  return exports.default.fetch(`http://cordon.test${path}`, { ...init, headers });
}

/** Posts an execution request and returns the parsed result. */
export async function run(body: Record<string, unknown>) {
  const res = await call("/v1/execute", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  return (await res.json()) as ExecutionResultBody;
}
