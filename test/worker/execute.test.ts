import { describe, expect, it } from "vitest";
import { run } from "./helpers";

describe("POST /v1/execute", () => {
  it("returns the value of the last top-level expression", async () => {
    const r = await run({ code: "const a = 2;\na * 21", input: null });
    expect(r.status).toBe("ok");
    expect(r.result).toBe(42);
  });
});
