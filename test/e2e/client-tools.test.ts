// `cordon/client` with tool handlers: `execute` runs the event stream and answers each call by
// awaiting its handler, against `npm start`.
import { Cordon } from "cordon/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_KEY, type Server, startServer } from "./server";

let server: Server;
let cordon: Cordon;
beforeAll(async () => {
  server = await startServer();
  cordon = new Cordon({ url: server.url, apiKey: E2E_KEY });
});
afterAll(async () => {
  await server?.stop();
});

describe("cordon/client tool handlers", () => {
  it("answers each call with its handler's result, or rejects it with what the handler threw", async () => {
    const seen: unknown[] = [];
    const result = await cordon.execute({
      code: `const sum = await codemode.add({ a: 2, b: 5 });
const both = await Promise.all([codemode.slow(30), codemode.slow(1)]);
let failed;
try { await codemode.broken({}) } catch (e) { failed = e.message }
({ sum, both, failed })`,
      tools: {
        codemode: {
          add: {
            inputSchema: { type: "object" },
            handler: ({ a, b }: { a: number; b: number }) => {
              seen.push([a, b]);
              return a + b;
            },
          },
          slow: {
            handler: async (ms: number) => {
              await new Promise((r) => setTimeout(r, ms));
              return ms;
            },
          },
          broken: {
            handler: () => {
              throw new Error("handler broke");
            },
          },
        },
      },
    });
    expect(result).toMatchObject({
      status: "ok",
      result: { sum: 7, both: [30, 1], failed: "handler broke" },
    });
    expect(seen).toEqual([[2, 5]]);
    expect(result.tools?.map((t) => [t.name, t.ok])).toEqual([
      ["add", true],
      ["slow", true],
      ["slow", true],
      ["broken", false],
    ]);
  });

  it("works in a session, and declares the tools for a prompt", async () => {
    const { sessionId } = await cordon.sessions.create();
    await cordon.sessions.execute(sessionId, { code: "const base = 100;" });
    const result = await cordon.sessions.execute(sessionId, {
      code: "base + (await codemode.one({}))",
      tools: { codemode: { one: { handler: () => 1 } } },
    });
    expect(result).toMatchObject({ status: "ok", result: 101 });
    const typescript = await cordon.toolTypes({
      codemode: {
        one: {
          description: "Answers one",
          inputSchema: { type: "object", properties: {} },
          handler: () => 1,
        },
      },
    });
    expect(typescript).toContain("declare const codemode: {");
    expect(typescript).toContain("/** Answers one */");
    expect(typescript).toContain("one(args: Record<string, unknown>): Promise<unknown>;");
  });
});
