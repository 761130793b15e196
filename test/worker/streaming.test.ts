import { describe, expect, it } from "vitest";
import { call } from "./helpers";

/** Posts with `Accept: text/event-stream` and returns the events in order. */
async function events(code: string): Promise<{ event: string; data: Record<string, unknown> }[]> {
  const res = await call("/v1/execute", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ code, timeoutMs: 2_000 }),
  });
  expect(res.headers.get("content-type")).toBe("text/event-stream");
  const text = await res.text();
  return text
    .split("\n\n")
    .map((block) => ({
      event: /^event: (.*)$/m.exec(block)?.[1] ?? "",
      data: JSON.parse(/^data: (.*)$/m.exec(block)?.[1] ?? "null") as Record<string, unknown>,
    }))
    .filter((e) => e.event !== "");
}

describe("streamed executions in the in-process runtime", () => {
  it("streams a denied attempt, then ends with the result", async () => {
    const got = await events("try { await fetch('https://example.com/') } catch {}\n1");
    expect(got.map((e) => e.event)).toEqual(["egress", "result"]);
    expect(got[0]?.data).toMatchObject({ url: "https://example.com/", decision: "denied" });
    expect(got[1]?.data).toMatchObject({ status: "ok", result: 1 });
  });

  it("ends the stream of code whose uncaught fetch error ends it", async () => {
    const got = await events("await fetch('http://127.0.0.1:1/')");
    expect(got.map((e) => e.event)).toEqual(["egress", "result"]);
    expect(got[1]?.data).toMatchObject({ status: "error", error: { name: "TypeError" } });
  });
});
