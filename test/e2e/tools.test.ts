// Tool calls over real HTTP against `npm start`: the guest calls a namespace of callback tools,
// the caller gets `tool_call` events and answers with POST /v1/executions/{id}/tool-calls/{callId}.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_KEY, type ExecutionResult, type Server, startServer } from "./server";

const ADMIN = "tools-admin-token-0123456789abcdef";
const SECRET = "sk-tools-secret-value-0123456789abcdef";

let server: Server;
let otherKey: string;

beforeAll(async () => {
  server = await startServer({
    CORDON_ADMIN_TOKEN: ADMIN,
    CORDON_DEV_SECRETS: JSON.stringify({ API_TOKEN: { value: SECRET, hosts: ["example.com"] } }),
  });
  const created = await server.call("/v1/admin/tenants", {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ id: "other", policy: { limits: { rate: 1000, burst: 1000 } } }),
  });
  expect(created.status).toBe(201);
  otherKey = ((await created.json()) as { apiKey: string }).apiKey;
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

interface ToolCall {
  executionId: string;
  callId: string;
  namespace: string;
  name: string;
  args: unknown;
}

interface ToolResult extends ExecutionResult {
  tools?: { namespace: string; name: string; ok: boolean; ms: number }[];
}

/** Answers a call the way a caller does; answers the HTTP status. */
async function answer(call: ToolCall, body: unknown, key = E2E_KEY): Promise<Response> {
  return fetch(`${server.url}/v1/executions/${call.executionId}/tool-calls/${call.callId}`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/**
 * Runs `body` as a streamed execution, handing each `tool_call` to `onCall` (not awaited: calls
 * may be answered in any order), and answers the `result` event's execution result.
 */
async function run(
  body: Record<string, unknown>,
  onCall: (call: ToolCall) => unknown,
  options: { path?: string; key?: string; signal?: AbortSignal } = {},
): Promise<ToolResult> {
  const res = await fetch(`${server.url}${options.path ?? "/v1/execute"}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${options.key ?? E2E_KEY}`,
      "content-type": "application/json",
      accept: "text/event-stream",
    },
    body: JSON.stringify(body),
    ...(options.signal ? { signal: options.signal } : {}),
  });
  expect(res.status).toBe(200);
  const handling: unknown[] = [];
  const reader = res.body?.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const chunk = await reader?.read();
    if (!chunk || chunk.done) throw new Error("the stream ended without a result");
    buffer += chunk.value;
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf("\n\n");
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (!event || !data) continue;
      // Calls may be answered in any order: each handler runs on its own, awaited at the end.
      if (event === "tool_call") handling.push(onCall(JSON.parse(data) as ToolCall));
      if (event === "result") {
        await Promise.all(handling);
        return JSON.parse(data) as ToolResult;
      }
      if (event === "error") throw new Error(data);
    }
  }
}

const TOOLS = {
  codemode: {
    add: { inputSchema: { type: "object", properties: { a: { type: "number" } } } },
    echo: {},
    fail: {},
    never: {},
  },
};

describe("tool calls answered by someone else", () => {
  it("another tenant's key, a session token, a forged call id and a second answer do not settle a call", async () => {
    const created = await server.call("/v1/sessions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    const { sessionId, token } = (await created.json()) as { sessionId: string; token: string };
    expect(sessionId).toMatch(/^ses_/);
    const statuses: Record<string, number> = {};
    const result = await run(
      {
        // Still running a while after its answer: a second answer meets a running execution.
        code: "const got = await codemode.echo({ n: 1 });\nawait new Promise((r) => setTimeout(r, 1500));\ngot",
        tools: TOOLS,
        timeoutMs: 10_000,
      },
      async (call) => {
        statuses.otherTenant = (await answer(call, { result: "from other" }, otherKey)).status;
        statuses.sessionToken = (await answer(call, { result: "from token" }, token)).status;
        statuses.forged = (await answer({ ...call, callId: "call_forged" }, { result: 1 })).status;
        statuses.otherExecution = (
          await answer({ ...call, executionId: "not-this-one" }, { result: 1 })
        ).status;
        statuses.first = (await answer(call, { result: "mine" })).status;
        const again = await answer(call, { result: "again" });
        statuses.second = again.status;
        expect(again.headers.get("content-type")).toBe("application/problem+json");
      },
    );
    expect(result.status).toBe("ok");
    expect(result.result).toBe("mine");
    expect(statuses).toEqual({
      otherTenant: 404,
      sessionToken: 404,
      forged: 404,
      otherExecution: 404,
      first: 204,
      second: 409,
    });
  });

  it("a session's token answers the calls of its own session's executions", async () => {
    const created = await server.call("/v1/sessions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    const { sessionId, token } = (await created.json()) as { sessionId: string; token: string };
    const result = await run(
      { code: "const got = await codemode.echo('hi'); got", tools: TOOLS },
      async (call) => {
        expect((await answer(call, { result: `${call.args} back` }, token)).status).toBe(204);
      },
      { path: `/v1/sessions/${sessionId}/execute`, key: token },
    );
    expect(result).toMatchObject({ status: "ok", result: "hi back" });
  });

  it("an answer past the size cap is 413 and the call stays open for a proper one", async () => {
    const result = await run({ code: "await codemode.echo({})", tools: TOOLS }, async (call) => {
      const huge = await answer(call, { result: "x".repeat(2 * 1024 * 1024) });
      expect(huge.status).toBe(413);
      expect((await answer(call, { result: "small" })).status).toBe(204);
    });
    expect(result).toMatchObject({ status: "ok", result: "small" });
  });

  it("a tenant secret in a tool's arguments or result never reaches the caller or the code", async () => {
    const seen: unknown[] = [];
    const result = await run(
      {
        code: `const echoed = await codemode.echo({ leaked: "${SECRET}" });
console.log(JSON.stringify(echoed));
echoed`,
        tools: TOOLS,
      },
      async (call) => {
        seen.push(call.args);
        await answer(call, { result: { back: SECRET } });
      },
    );
    expect(result.status).toBe("ok");
    expect(JSON.stringify(seen)).not.toContain(SECRET);
    expect(JSON.stringify(result)).not.toContain(SECRET);
    expect(JSON.stringify(result.result)).toContain("REDACTED");
  });

  it("a guest flooding calls past the cap gets rejections, listed in the result", async () => {
    const result = await run(
      {
        code: `const settled = await Promise.allSettled(Array.from({ length: 105 }, (_, i) => codemode.echo(i)));
({ ok: settled.filter((s) => s.status === "fulfilled").length, refused: settled.filter((s) => s.status === "rejected").map((s) => s.reason.message)[0] })`,
        tools: TOOLS,
        timeoutMs: 30_000,
      },
      (call) => answer(call, { result: call.args }),
    );
    expect(result.status).toBe("ok");
    expect(result.result).toEqual({
      ok: 100,
      refused: "tool call cap reached: an execution may make at most 100 tool calls",
    });
    expect(result.tools).toHaveLength(101);
    expect(result.tools?.at(-1)).toEqual({ namespace: "*", name: "*", ok: false, ms: 0 });
  }, 60_000);

  it("a tenant policy's limits.toolCalls lowers the cap", async () => {
    const created = await server.call("/v1/admin/tenants", {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
      body: JSON.stringify({
        id: "capped",
        policy: { limits: { rate: 1000, burst: 1000, toolCalls: 2 } },
      }),
    });
    expect(created.status).toBe(201);
    const key = ((await created.json()) as { apiKey: string }).apiKey;
    const result = await run(
      {
        code: "const got = []; for (let i = 0; i < 3; i++) { try { got.push(await codemode.echo(i)) } catch (e) { got.push(e.message) } }\ngot",
        tools: TOOLS,
      },
      (call) => answer(call, { result: call.args }, key),
      { key },
    );
    expect(result.result).toEqual([
      0,
      1,
      "tool call cap reached: an execution may make at most 2 tool calls",
    ]);
  });

  it("a call never answered ends with the execution's timeout, and then cannot be answered", async () => {
    let pending: ToolCall | undefined;
    const started = Date.now();
    const result = await run(
      { code: "await codemode.never({})", tools: TOOLS, timeoutMs: 1_500 },
      (call) => {
        pending = call;
      },
    );
    expect(result.status).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(1_500 + 1_000 + 1_000);
    expect(result.tools).toEqual([
      { namespace: "codemode", name: "never", ok: false, ms: expect.any(Number) },
    ]);
    expect(pending).toBeDefined();
    if (pending) expect((await answer(pending, { result: 1 })).status).toBe(404);
  });

  it("a client that disconnects while a call waits cancels the run: the call is gone", async () => {
    const abort = new AbortController();
    let pending: ToolCall | undefined;
    await run(
      { code: "await codemode.never({})", tools: TOOLS, timeoutMs: 20_000 },
      (call) => {
        pending = call;
        abort.abort();
      },
      { signal: abort.signal },
    ).catch(() => undefined);
    expect(pending).toBeDefined();
    const deadline = Date.now() + 5_000;
    let status = 0;
    while (Date.now() < deadline) {
      status = pending ? (await answer(pending, { result: 1 })).status : 0;
      if (status === 404) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(status).toBe(404);
  });
});

describe("tool calls", () => {
  it("round trips in sequence: each call resolves with the caller's result", async () => {
    const calls: ToolCall[] = [];
    const result = await run(
      {
        code: "const x = await codemode.add({ a: 1, b: 2 });\nconst y = await codemode.add({ a: x, b: 3 });\ny",
        tools: TOOLS,
      },
      async (call) => {
        calls.push(call);
        const { a, b } = call.args as { a: number; b: number };
        expect((await answer(call, { result: a + b })).status).toBe(204);
      },
    );
    expect(result).toMatchObject({ status: "ok", result: 6 });
    expect(calls.map((c) => [c.namespace, c.name, c.args])).toEqual([
      ["codemode", "add", { a: 1, b: 2 }],
      ["codemode", "add", { a: 3, b: 3 }],
    ]);
    expect(calls[0]?.executionId).toBe(result.executionId);
    expect(result.tools).toEqual([
      { namespace: "codemode", name: "add", ok: true, ms: expect.any(Number) },
      { namespace: "codemode", name: "add", ok: true, ms: expect.any(Number) },
    ]);
  });

  it("ten concurrent calls answered in reverse order each get their own answer", async () => {
    const calls: ToolCall[] = [];
    const result = await run(
      {
        code: "await Promise.all(Array.from({ length: 10 }, (_, i) => codemode.echo({ i })))",
        tools: TOOLS,
      },
      async (call) => {
        calls.push(call);
        if (calls.length < 10) return;
        for (const c of [...calls].reverse()) {
          expect((await answer(c, { result: (c.args as { i: number }).i * 10 })).status).toBe(204);
        }
      },
    );
    expect(result).toMatchObject({ status: "ok", result: [0, 10, 20, 30, 40, 50, 60, 70, 80, 90] });
    expect(new Set(calls.map((c) => c.callId)).size).toBe(10);
  });

  it("an error answer rejects the call with an Error carrying the message", async () => {
    const result = await run(
      {
        code: "try { await codemode.fail({}); 'no' } catch (e) { [e instanceof Error, e.message] }",
        tools: TOOLS,
      },
      (call) => answer(call, { error: { message: "tool says no" } }),
    );
    expect(result).toMatchObject({ status: "ok", result: [true, "tool says no"] });
    expect(result.tools).toEqual([
      { namespace: "codemode", name: "fail", ok: false, ms: expect.any(Number) },
    ]);
  });

  it("an unknown tool rejects without reaching the caller; namespaces are not globals", async () => {
    const calls: ToolCall[] = [];
    const result = await run(
      {
        code: "let m; try { await codemode.nope(1) } catch (e) { m = e.message }\n[m, typeof globalThis.codemode]",
        tools: TOOLS,
      },
      (call) => calls.push(call),
    );
    expect(result).toMatchObject({
      status: "ok",
      result: ["no tool nope in namespace codemode", "undefined"],
    });
    expect(calls).toEqual([]);
  });

  it("callback tools without the event stream, or a namespace that shadows a global, are 400", async () => {
    const plain = await server.call("/v1/execute", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "1", tools: TOOLS }),
    });
    expect(plain.status).toBe(400);
    expect(plain.headers.get("content-type")).toBe("application/problem+json");
    expect(((await plain.json()) as { detail: string }).detail).toMatch(/text\/event-stream/);
    const shadow = await server.call("/v1/execute", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify({ code: "1", tools: { fetch: { get: {} } } }),
    });
    expect(shadow.status).toBe(400);
    expect(JSON.stringify(await shadow.json())).toMatch(/global/);
  });
});
