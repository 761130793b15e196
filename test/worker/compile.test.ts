import { describe, expect, it } from "vitest";
import { run } from "./helpers";

describe("the compiler", () => {
  it("compiles a loop body that ends where an arrow function in it ends (no semicolon)", async () => {
    const r = await run({ code: "let f;\nlet i = 0;\nwhile (i++ < 1) f = () => 41\nf() + 1" });
    expect(r).toMatchObject({ status: "ok", result: 42 });
  });
});
