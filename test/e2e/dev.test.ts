import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "./server";

const KEY = "e2e-dev-mode-key-0123456789";
let child: ChildProcess | undefined;
let url = "";

beforeAll(async () => {
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  // `npm run dev` exactly as a developer runs it, on a free port.
  child = spawn("npm", ["run", "dev", "--", "--ip", "127.0.0.1", "--port", String(port)], {
    env: { ...process.env, CORDON_DEV_API_KEY: KEY },
    stdio: "ignore",
    detached: true,
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error("npm run dev did not answer within 60 s");
    await new Promise((r) => setTimeout(r, 250));
  }
}, 90_000);

afterAll(() => {
  // npm, wrangler and workerd form one process group.
  if (child?.pid) process.kill(-child.pid, "SIGTERM");
});

describe("npm run dev", () => {
  it("runs Python, fresh and as a session's turns", async () => {
    const post = async (path: string, body: unknown) => {
      const res = await fetch(`${url}${path}`, {
        method: "POST",
        headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return (await res.json()) as Record<string, unknown>;
    };
    // The worker's first Python run makes the snapshot first.
    expect(
      await post("/v1/execute", {
        code: "import sys\nsys.version_info[0] * 10 + 2",
        language: "python",
        timeoutMs: 60_000,
      }),
    ).toMatchObject({ status: "ok", result: 32 });
    const { sessionId } = (await post("/v1/sessions", {})) as { sessionId: string };
    const turn = (code: string) =>
      post(`/v1/sessions/${sessionId}/execute`, { code, language: "python", timeoutMs: 30_000 });
    expect(await turn("import builtins\nbuiltins.mark = 'kept'\nbase = 41")).toMatchObject({
      status: "ok",
    });
    expect(await turn("import builtins\n[builtins.mark, base + 1]")).toMatchObject({
      status: "ok",
      result: ["kept", 42],
    });
  }, 90_000);

  it("answers a catastrophically backtracking regex instead of freezing", async () => {
    const started = Date.now();
    const res = await fetch(`${url}/v1/execute`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ code: "/(a+)+$/.test('a'.repeat(40) + 'b')", timeoutMs: 5000 }),
    });
    expect(await res.json()).toMatchObject({ status: "ok", result: false });
    expect(Date.now() - started).toBeLessThan(5000);
    const health = await fetch(`${url}/healthz`);
    expect(health.status).toBe(200);
  });
});
