import { describe, expect, it } from "vitest";
import { call } from "./helpers";

/** Calls an MCP tool and answers its result's text and `isError`. */
async function tool(name: string, args: Record<string, unknown>) {
  const res = await call("/mcp", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name, arguments: args },
    }),
  });
  expect(res.status).toBe(200);
  const { result } = (await res.json()) as {
    result: { isError?: boolean; content: { text: string }[] };
  };
  return { isError: result.isError, text: result.content.map((c) => c.text).join("") };
}

describe("an MCP tool refused what its route refuses", () => {
  it("answers with the route's problem, naming the route it stands for", async () => {
    const missing = await tool("execute", { code: "1", sessionId: "ses_nosuchsession0000" });
    expect(missing.isError).toBe(true);
    expect(JSON.parse(missing.text)).toEqual({
      type: "https://cordon.dev/problems/not-found",
      title: "Not found",
      status: 404,
      detail: "no session ses_nosuchsession0000",
      instance: "/v1/sessions/ses_nosuchsession0000/execute",
    });
    const file = await tool("read_file", { sessionId: "ses_nosuchsession0000", path: "a b.txt" });
    expect(JSON.parse(file.text)).toMatchObject({
      status: 404,
      instance: "/v1/sessions/ses_nosuchsession0000/files/a%20b.txt",
    });
  });

  it("holds a tool's arguments to the route's body cap", async () => {
    // 1 MiB of code, within the code cap, that takes 6 MiB as JSON: past the 3 MiB body cap.
    const escaped = await tool("execute", { code: "\u0001".repeat(1024 * 1024) });
    expect(escaped.isError).toBe(true);
    expect(JSON.parse(escaped.text)).toMatchObject({
      status: 413,
      detail: "the request body is larger than 3145728 bytes",
      instance: "/v1/execute",
    });
  });
});
