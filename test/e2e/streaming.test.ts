import { Cordon } from "cordon/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_KEY, type ExecutionResult, type Server, startServer } from "./server";

let server: Server;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

interface Received {
  event: string;
  data: unknown;
  at: number;
}

/** Posts with `Accept: text/event-stream` and collects every event with its arrival time. */
async function stream(path: string, body: Record<string, unknown>, signal?: AbortSignal) {
  const started = Date.now();
  const res = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${E2E_KEY}`,
      "content-type": "application/json",
      accept: "text/event-stream",
    },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
  expect(res.headers.get("content-type")).toBe("text/event-stream");
  const events: Received[] = [];
  const reader = res.body?.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const chunk = await reader?.read();
    if (!chunk || chunk.done) break;
    buffer += chunk.value;
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf("\n\n");
      const event = /^event: (.*)$/m.exec(block)?.[1];
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (event && data) events.push({ event, data: JSON.parse(data), at: Date.now() - started });
    }
  }
  return events;
}

describe("streaming executions", () => {
  it("delivers a log before a following wait ends, then the result the JSON answer has", async () => {
    const events = await stream("/v1/execute", {
      code: "console.log('before'); await new Promise((r) => setTimeout(r, 2000)); console.log('after'); 42",
    });
    const [first, second, last] = events;
    expect(first).toMatchObject({ event: "log", data: { level: "log", message: "before" } });
    expect(first?.at).toBeLessThan(1500);
    expect(second).toMatchObject({ event: "log", data: { message: "after" } });
    expect(second?.at).toBeGreaterThanOrEqual(1900);
    expect(last?.event).toBe("result");
    const result = last?.data as ExecutionResult;
    expect(result).toMatchObject({ status: "ok", result: 42 });
    expect(result.logs).toEqual([
      { level: "log", message: "before" },
      { level: "log", message: "after" },
    ]);
  });

  it("streams egress attempts as they are decided", async () => {
    const events = await stream("/v1/execute", {
      code: "try { await fetch('https://example.com/') } catch {}\n1",
    });
    expect(events.map((e) => e.event)).toEqual(["egress", "result"]);
    expect(events[0]?.data).toMatchObject({ url: "https://example.com/", decision: "denied" });
  });

  it("streams a session execution and cancels it when the client disconnects", async () => {
    const created = await server.call("/v1/sessions", { method: "POST" });
    const { sessionId } = (await created.json()) as { sessionId: string };
    await server.execute({ code: "1" });
    const setup = await server.call(`/v1/sessions/${sessionId}/execute`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "let stage = 'start';" }),
    });
    expect(setup.status).toBe(200);

    const abort = new AbortController();
    const cancelled = stream(
      `/v1/sessions/${sessionId}/execute`,
      {
        code: "stage = 'running'; await new Promise((r) => setTimeout(r, 3000)); stage = 'finished';",
      },
      abort.signal,
    ).catch(() => "aborted");
    await new Promise((r) => setTimeout(r, 500));
    abort.abort();
    expect(await cancelled).toBe("aborted");

    // Well past the 3 s the code would have needed: had it gone on, `stage` would be 'finished'.
    await new Promise((r) => setTimeout(r, 3500));
    const check = await server.call(`/v1/sessions/${sessionId}/execute`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "stage" }),
    });
    expect(((await check.json()) as ExecutionResult).result).toBe("start");
    const history = (await (await server.call(`/v1/sessions/${sessionId}/executions`)).json()) as {
      executions: { status: string }[];
    };
    expect(history.executions.map((e) => e.status)).toEqual(["ok", "killed", "ok"]);
  });
});

describe("the client library against a streaming server", () => {
  it("yields log events while the code runs and the result last", async () => {
    const cordon = new Cordon({ url: server.url, apiKey: E2E_KEY });
    const seen: string[] = [];
    const started = Date.now();
    let firstLogAt = 0;
    for await (const event of cordon.executeStream({
      code: "console.log('tick'); await new Promise((r) => setTimeout(r, 1500)); 'done'",
    })) {
      if (event.type === "log" && firstLogAt === 0) firstLogAt = Date.now() - started;
      seen.push(event.type === "result" ? `result:${event.data.result}` : event.type);
    }
    expect(seen).toEqual(["log", "result:done"]);
    expect(firstLogAt).toBeLessThan(1200);
  });
});
