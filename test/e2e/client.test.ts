import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  BadRequestError,
  Cordon,
  CordonError,
  type ExecutionEvent,
  NotFoundError,
  PayloadTooLargeError,
  parseSse,
  type SseMessage,
  UnauthorizedError,
} from "cordon/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_KEY, type Server, startServer } from "./server";

const ADMIN = "e2e-client-admin-token-0123456789";

/** A body delivered in exactly these chunks, so parsing across chunk boundaries is exercised. */
function chunked(chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const queue = chunks.map((c) => (typeof c === "string" ? encoder.encode(c) : c));
  return new ReadableStream({
    pull(controller) {
      const next = queue.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });
}

async function collect(body: ReadableStream<Uint8Array>): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  for await (const message of parseSse(body)) out.push(message);
  return out;
}

describe("the SSE parser", () => {
  it("splits events at blank lines across chunk boundaries, CRLF, CR and LF alike", async () => {
    const euro = new TextEncoder().encode("€");
    const messages = await collect(
      chunked([
        "\uFEFFevent: log\r",
        '\ndata: {"level":"log","message":"a ',
        euro.slice(0, 1),
        euro.slice(1),
        '"}\r\n\r\n: a comment\n',
        "event:egress\ndata:{}\n\nevent: result\rdata: line one\rdata: line two\r\r",
        "data: plain\nid: 7\nretry: 1500\n\n",
      ]),
    );
    expect(messages).toEqual([
      { event: "log", data: '{"level":"log","message":"a €"}' },
      { event: "egress", data: "{}" },
      { event: "result", data: "line one\nline two" },
      { event: "message", data: "plain", id: "7", retry: 1500 },
    ]);
  });

  it("drops an event the stream ends in the middle of, and events without data", async () => {
    const messages = await collect(
      chunked(["event: log\n\n", "data: complete\n\n", "event: result\ndata: cut off"]),
    );
    expect(messages).toEqual([{ event: "message", data: "complete" }]);
  });

  it("cancels the body when the consumer stops early", async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("data: 1\n\ndata: 2\n\n"));
      },
      cancel() {
        cancelled = true;
      },
    });
    for await (const message of parseSse(body)) {
      expect(message.data).toBe("1");
      break;
    }
    expect(cancelled).toBe(true);
  });

  it("gives executeStream the log and egress events in order, then the result", async () => {
    const result = {
      executionId: "x",
      status: "ok",
      result: 3,
      logs: [{ level: "info", message: "hi" }],
      egress: [{ method: "GET", url: "https://a.test/", decision: "denied", reason: "no rule" }],
      redactions: [],
      usage: { wallMs: 1, subrequests: 1 },
    };
    let accept: string | null = null;
    const cordon = new Cordon({
      url: "http://cordon.test",
      apiKey: "k",
      fetch: async (_url, init) => {
        accept = new Headers(init.headers).get("accept");
        return new Response(
          chunked([
            `event: log\ndata: ${JSON.stringify(result.logs[0])}\n\n`,
            `event: egress\ndata: ${JSON.stringify(result.egress[0])}\n\n`,
            ": keep-alive\n\nevent: future-event\ndata: {}\n\n",
            `event: result\ndata: ${JSON.stringify(result)}\n\n`,
          ]),
          { headers: { "content-type": "text/event-stream" } },
        );
      },
    });
    const events: ExecutionEvent[] = [];
    for await (const event of cordon.executeStream({ code: "1" })) events.push(event);
    expect(accept).toBe("text/event-stream");
    expect(events).toEqual([
      { type: "log", data: result.logs[0] },
      { type: "egress", data: result.egress[0] },
      { type: "result", data: result },
    ]);
  });

  it("turns an error event into a CordonError and a stream without result into a stream error", async () => {
    const streaming = (text: string) =>
      new Cordon({
        url: "http://cordon.test",
        fetch: async () =>
          new Response(chunked([text]), { headers: { "content-type": "text/event-stream" } }),
      });
    const problem = {
      type: "https://cordon.dev/problems/x",
      title: "Boom",
      status: 500,
      detail: "d",
    };
    const failing = streaming(`event: error\ndata: ${JSON.stringify(problem)}\n\n`);
    await expect(drain(failing.executeStream({ code: "1" }))).rejects.toMatchObject({
      status: 500,
      title: "Boom",
      detail: "d",
    });
    const cut = streaming('event: log\ndata: {"level":"log","message":"a"}\n\n');
    await expect(drain(cut.executeStream({ code: "1" }))).rejects.toMatchObject({
      kind: "stream",
    });
  });
});

async function drain(events: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of events) {
    // only the outcome matters
  }
}

describe("the client library against npm start", () => {
  let server: Server;
  let cordon: Cordon;

  beforeAll(async () => {
    server = await startServer({ CORDON_ADMIN_TOKEN: ADMIN });
    cordon = new Cordon({ url: server.url, apiKey: E2E_KEY, adminToken: ADMIN });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("is an ES module with no runtime dependency", () => {
    const bundle = readFileSync(join(process.cwd(), "dist/client/index.js"), "utf8");
    expect(bundle).not.toMatch(/^\s*import\b|\bfrom\s*["']|\brequire\(/m);
  });

  it("runs code and returns the typed result, logs included", async () => {
    const result = await cordon.execute({
      code: "const n: number = input.n;\nconsole.warn('n is', n);\nn * 2",
      language: "typescript",
      input: { n: 21 },
    });
    expect(result.status).toBe("ok");
    expect(result.result).toBe(42);
    expect(result.logs).toEqual([{ level: "warn", message: "n is 21" }]);
  });

  it("answers a thrown error as a result with its line and column", async () => {
    const result = await cordon.execute({ code: "const a = 1;\nthrow new RangeError('no')" });
    expect(result.status).toBe("error");
    expect(result.error).toMatchObject({ name: "RangeError", message: "no", line: 2 });
  });

  it("streams an execution, falling back to the JSON answer's events", async () => {
    const events: ExecutionEvent[] = [];
    for await (const event of cordon.executeStream({ code: "console.log('one'); 'done'" })) {
      events.push(event);
    }
    expect(events.map((e) => e.type)).toEqual(["log", "result"]);
    expect(events[0]?.data).toEqual({ level: "log", message: "one" });
    const last = events.at(-1);
    expect(last?.type === "result" && last.data.result).toBe("done");
  });

  it("returns the stored result for a retry with the same idempotency key", async () => {
    const code = "crypto.randomUUID()";
    const first = await cordon.execute({ code }, { idempotencyKey: "client-retry-1" });
    const again = await cordon.execute({ code }, { idempotencyKey: "client-retry-1" });
    expect(again).toEqual(first);
  });

  it("creates, uses, describes and deletes a session", async () => {
    const { sessionId, token, expiresAt } = await cordon.sessions.create({ ttlSeconds: 600 });
    expect(sessionId).toMatch(/^ses_/);
    expect(Date.parse(expiresAt)).toBeGreaterThan(Date.now());
    await cordon.sessions.execute(sessionId, { code: "let count = 41" });
    // The session token works on that session's routes, as the API key does.
    const scoped = new Cordon({ url: server.url, apiKey: token });
    const second = await scoped.sessions.execute(sessionId, { code: "count += 1; count" });
    expect(second.result).toBe(42);
    const info = await cordon.sessions.get(sessionId);
    expect(info).toMatchObject({ sessionId, executions: 2, variables: ["count"] });
    const history = await cordon.sessions.executions(sessionId);
    expect(history.executions.map((e) => e.status)).toEqual(["ok", "ok"]);
    await cordon.sessions.delete(sessionId);
    await expect(cordon.sessions.get(sessionId)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("stores, lists, reads and deletes workspace files as bytes and as text", async () => {
    const { sessionId } = await cordon.sessions.create();
    const bytes = new Uint8Array([0, 1, 2, 253, 254, 255]);
    await cordon.files.put(sessionId, "bin/data.bin", bytes);
    await cordon.files.put(sessionId, "notes/hello world.txt", "grüße");
    const { files } = await cordon.files.list(sessionId);
    expect(files.map((f) => [f.path, f.size]).sort()).toEqual([
      ["bin/data.bin", 6],
      ["notes/hello world.txt", 7],
    ]);
    expect(await cordon.files.get(sessionId, "bin/data.bin")).toEqual(bytes);
    expect(await cordon.files.getText(sessionId, "/tmp/workspace/notes/hello world.txt")).toBe(
      "grüße",
    );
    const seen = await cordon.sessions.execute(sessionId, {
      code: "import fs from 'node:fs';\nfs.readFileSync('/tmp/workspace/notes/hello world.txt', 'utf8')",
    });
    expect(seen.result).toBe("grüße");
    await cordon.files.delete(sessionId, "bin/data.bin");
    await expect(cordon.files.get(sessionId, "bin/data.bin")).rejects.toMatchObject({
      status: 404,
      kind: "not-found",
    });
    // A dot segment would resolve to another route; it never leaves the client.
    await expect(cordon.files.delete(sessionId, "..")).rejects.toBeInstanceOf(TypeError);
    expect((await cordon.sessions.get(sessionId)).sessionId).toBe(sessionId);
  });

  it("throws a BadRequestError carrying the field errors", async () => {
    const err = await cordon.execute({ code: "1", timeoutMs: -5 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BadRequestError);
    expect(err).toBeInstanceOf(CordonError);
    const problem = err as BadRequestError;
    expect(problem).toMatchObject({ status: 400, kind: "bad-request", title: "Invalid request" });
    expect(problem.type).toMatch(/\/invalid-request$/);
    expect(problem.errors.map((e) => e.path)).toContain("timeoutMs");
  });

  it("throws an UnauthorizedError for a wrong key", async () => {
    const stranger = new Cordon({ url: server.url, apiKey: "not-a-key" });
    const err = await stranger.execute({ code: "1" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnauthorizedError);
    expect(err).toMatchObject({ status: 401, kind: "unauthorized", title: "Unauthorized" });
  });

  it("throws a NotFoundError for a session that does not exist", async () => {
    const err = await cordon.sessions
      .execute("ses_doesnotexist0000", { code: "1" })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as NotFoundError).detail).toContain("ses_doesnotexist0000");
  });

  it("throws a PayloadTooLargeError for code over 1 MiB", async () => {
    const code = `// ${"x".repeat(1024 * 1024 + 10)}\n1`;
    const err = await cordon.execute({ code }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PayloadTooLargeError);
    expect(err).toMatchObject({ status: 413, kind: "too-large" });
  });

  it("reports an unreachable server as a network error", async () => {
    const nowhere = new Cordon({ url: "http://127.0.0.1:1", apiKey: "k" });
    await expect(nowhere.health()).rejects.toMatchObject({ status: 0, kind: "network" });
  });

  it("reads health and the OpenAPI document without a key", async () => {
    const anonymous = new Cordon({ url: server.url });
    expect((await anonymous.health()).ok).toBe(true);
    const doc = await anonymous.openapi();
    expect(Object.keys(doc.paths as object)).toEqual(
      expect.arrayContaining(["/v1/execute", "/v1/sessions/{id}/files/{path}", "/mcp"]),
    );
  });

  it("administers tenants, keys, policies, secrets and incidents with the admin token", async () => {
    const created = await cordon.admin.createTenant({ id: "client-e2e" });
    expect(created).toMatchObject({ id: "client-e2e", keyId: expect.stringMatching(/^key_/) });
    const tenant = new Cordon({ url: server.url, apiKey: created.apiKey });
    expect((await tenant.execute({ code: "'mine'" })).result).toBe("mine");

    await cordon.admin.setPolicy("client-e2e", { egress: { allow: ["api.example.com"] } });
    await cordon.admin.setSecret("client-e2e", "API_TOKEN", {
      value: "s3cret-value",
      hosts: ["api.example.com"],
    });
    const second = await cordon.admin.createKey("client-e2e");
    const info = await cordon.admin.getTenant("client-e2e");
    expect(info.policy).toEqual({ egress: { allow: ["api.example.com"] } });
    expect(info.secrets).toEqual(["API_TOKEN"]);
    expect(info.keys.map((k) => k.keyId).sort()).toEqual([created.keyId, second.keyId].sort());
    expect(JSON.stringify(info)).not.toContain("s3cret-value");

    await cordon.admin.revokeKey("client-e2e", created.keyId);
    await expect(tenant.execute({ code: "1" })).rejects.toBeInstanceOf(UnauthorizedError);
    const other = new Cordon({ url: server.url, apiKey: second.apiKey });
    expect((await other.execute({ code: "2" })).result).toBe(2);

    await expect(cordon.admin.createTenant({ id: "client-e2e" })).rejects.toMatchObject({
      status: 409,
      kind: "conflict",
    });
    expect(Array.isArray((await cordon.admin.incidents()).incidents)).toBe(true);
  });
});
