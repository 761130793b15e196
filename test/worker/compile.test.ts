import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Session } from "../../durable-objects/session";
import { call, run } from "./helpers";

describe("the compiler", () => {
  it("compiles a loop body that ends where an arrow function in it ends (no semicolon)", async () => {
    const r = await run({ code: "let f;\nlet i = 0;\nwhile (i++ < 1) f = () => 41\nf() + 1" });
    expect(r).toMatchObject({ status: "ok", result: 42 });
  });

  it("keeps the result of code that ends in a line comment", async () => {
    const named = await run({
      code: "function f() { return 7 }\nexport { f as default } // the answer",
    });
    expect(named).toMatchObject({ status: "ok", result: 7 });
    const completion = await run({ code: "if (true) { 8 } // the answer" });
    expect(completion).toMatchObject({ status: "ok", result: 8 });
  });

  it("compiles a member chain deeper than any stack (the parser reads it in a loop)", async () => {
    const r = await run({ code: `const x = { n: 1 };\nx.a = x;\nx${".a".repeat(300_000)}.n` });
    // The engine may refuse to compile the chain itself; the answer is the run's, never a 500.
    expect(String(r.status === "ok" ? r.result : r.error?.name)).toMatch(
      /^(1|RangeError|SyntaxError)$/,
    );
  });
});

/** Code over 64 KiB: compiled by the runtime that runs it, not by the control plane. */
const FILLER = `${"// filler line that makes the code large enough to be compiled elsewhere\n".repeat(1000)}`;

describe("code compiled where it runs (over 64 KiB)", () => {
  it("answers its completion value and locates its errors in the code as sent", async () => {
    expect(FILLER.length).toBeGreaterThan(64 * 1024);
    const ok = await run({ code: `${FILLER}let n = 2;\nif (n) { n * 21 }` });
    expect(ok).toMatchObject({ status: "ok", result: 42 });
    const thrown = await run({ code: `${FILLER}let n = 2;\nif (n) {\n  null.x;\n}` });
    expect(thrown).toMatchObject({
      status: "error",
      error: { name: "TypeError", line: 1003, column: 8 },
    });
    const ts = await run({
      code: `${FILLER}const n: number = 2;\nfunction f(x: number): number {\n  throw new Error("far " + x);\n}\nf(n)`,
      language: "typescript",
    });
    expect(ts).toMatchObject({
      status: "error",
      error: { message: "far 2", line: 1003, column: 9 },
    });
  });

  it("answers a syntax error with its position without running anything", async () => {
    const r = await run({ code: `${FILLER}console.log("ran");\nlet = ;` });
    expect(r).toMatchObject({
      status: "error",
      error: { name: "SyntaxError", line: 1002 },
      logs: [],
    });
  });

  it("carries a session's bindings and refuses a forged stored name, as when compiled here", async () => {
    const created = await call("/v1/sessions", { method: "POST" });
    const { sessionId } = (await created.json()) as { sessionId: string };
    const exec = async (code: string) => {
      const res = await call(`/v1/sessions/${sessionId}/execute`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ code }),
      });
      return (await res.json()) as {
        status: string;
        result?: unknown;
        logs: { message: string }[];
      };
    };
    await exec(`${FILLER}const base = 40;\nfunction add(x) { return base + x }\nvar input = 1;`);
    const stub = env.SESSION.getByName(`dev:${sessionId}`);
    await runInDurableObject(stub, (_instance: Session, state) => {
      state.storage.sql.exec(
        "INSERT INTO variables (name, position, carried, value) VALUES (?, ?, ?, ?)",
        "x = Math.max = 0, y",
        9,
        JSON.stringify({ name: "x = Math.max = 0, y", how: "value", kind: "let" }),
        null,
      );
    });
    const r = await exec(`${FILLER}[add(2), Math.max(1, 2)]`);
    expect(r).toMatchObject({ status: "ok", result: [42, 2] });
    expect(r.logs.map((l) => l.message).join("\n")).toContain(
      '"x = Math.max = 0, y" (not a variable name)',
    );
    expect((await exec("add(1)")).result).toBe(41);
  });
});
