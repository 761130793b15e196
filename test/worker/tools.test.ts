import { describe, expect, it } from "vitest";
import { call } from "./helpers";

interface ToolCall {
  executionId: string;
  callId: string;
  namespace: string;
  name: string;
  args: unknown;
}

/** Streams an execution with tools in the in-process runtime, answering each call with `answer`. */
async function run(
  body: Record<string, unknown>,
  answer: (call: ToolCall) => unknown,
): Promise<Record<string, unknown>> {
  const res = await call("/v1/execute", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  const reader = res.body?.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const chunk = await reader?.read();
    if (!chunk || chunk.done) throw new Error("the stream ended without a result");
    buffer += chunk.value;
    for (let end = buffer.indexOf("\n\n"); end >= 0; end = buffer.indexOf("\n\n")) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null");
      if (event === "tool_call") {
        const toolCall = data as ToolCall;
        const posted = await call(
          `/v1/executions/${toolCall.executionId}/tool-calls/${toolCall.callId}`,
          {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify(answer(toolCall)),
          },
        );
        expect(posted.status).toBe(204);
      }
      if (event === "result") return data as Record<string, unknown>;
    }
  }
}

describe("tool calls in the in-process runtime", () => {
  it("resolve with the caller's answers, in a warm isolate whose other runs see no namespace", async () => {
    const tools = { math: { double: {} } };
    const code = "const a = await math.double(2);\nconst b = await math.double(a);\nb";
    for (let i = 0; i < 2; i++) {
      const result = await run({ code, tools }, (c) => ({ result: (c.args as number) * 2 }));
      expect(result).toMatchObject({ status: "ok", result: 8 });
    }
    const without = await run({ code: "typeof math" }, () => ({ result: null }));
    expect(without).toMatchObject({ status: "ok", result: "undefined" });
  });

  it("rejects with the error an answer carries", async () => {
    const result = await run(
      {
        code: "try { await math.double(1) } catch (e) { e.message }",
        tools: { math: { double: {} } },
      },
      () => ({ error: { message: "no doubling today" } }),
    );
    expect(result).toMatchObject({ status: "ok", result: "no doubling today" });
  });
});
