import { describe, expect, it } from "vitest";
import { run } from "./helpers";

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
