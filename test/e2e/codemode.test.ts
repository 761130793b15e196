// `@cloudflare/codemode` (its /browser entry, which loads in Node) driving Cordon through
// `CordonExecutor`: the model's code runs in Cordon and calls the tools codemode hands over.
import { createBrowserCodeTool, type Executor } from "@cloudflare/codemode/browser";
import { Cordon, CordonExecutor } from "cordon/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_KEY, type Server, startServer } from "./server";

let server: Server;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

describe("CordonExecutor for @cloudflare/codemode", () => {
  it("runs codemode's code tool in Cordon, its tools called from the sandbox", async () => {
    const executor: Executor = new CordonExecutor(new Cordon({ url: server.url, apiKey: E2E_KEY }));
    const calls: unknown[] = [];
    const codeTool = createBrowserCodeTool({
      executor,
      tools: {
        add: {
          description: "Adds two numbers",
          inputSchema: {
            type: "object",
            properties: { a: { type: "number" }, b: { type: "number" } },
            required: ["a", "b"],
          },
          execute: async (args: unknown) => {
            calls.push(args);
            const { a, b } = args as { a: number; b: number };
            return a + b;
          },
        },
      },
    });
    expect(codeTool.description).toContain("add");
    const out = await codeTool.execute({
      code: "async () => { const x = await codemode.add({ a: 1, b: 2 }); console.log('x', x); return codemode.add({ a: x, b: 10 }); }",
    });
    expect(out).toMatchObject({ result: 13 });
    expect(calls).toEqual([
      { a: 1, b: 2 },
      { a: 3, b: 10 },
    ]);
  });

  it("never throws: a failing run comes back as its error, with the logs", async () => {
    const executor = new CordonExecutor(new Cordon({ url: server.url, apiKey: E2E_KEY }));
    const failed = await executor.execute(
      "async () => { console.log('before'); throw new Error('nope') }",
      {},
    );
    expect(failed).toEqual({ result: undefined, error: "Error: nope", logs: ["before"] });
    const unreachable = await new CordonExecutor(
      new Cordon({ url: "http://127.0.0.1:1", apiKey: E2E_KEY }),
    ).execute("async () => 1", {});
    expect(unreachable.result).toBeUndefined();
    expect(unreachable.error).toMatch(/failed/);
  });
});
