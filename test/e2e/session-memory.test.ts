import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExecutionResult, type Server, startServer } from "./server";

let server: Server;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

const MiB = 1024 * 1024;

describe("a session at its workspace cap", () => {
  // Its state goes into every run's isolate and comes back: that costs the runner several times
  // the state's size, none of which is the code's own memory, so it must not count against the
  // 128 MB an execution may use.
  it("runs its code, each time, without being killed for memory", async () => {
    const created = await server.call("/v1/sessions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(created.status).toBe(201);
    const { sessionId } = (await created.json()) as { sessionId: string };
    // Ten files of just under 1 MiB: the session's 10 MiB, nearly full.
    for (let i = 0; i < 10; i++) {
      const put = await server.call(`/v1/sessions/${sessionId}/files/f${i}.bin`, {
        method: "PUT",
        headers: { "content-type": "application/octet-stream" },
        body: new Uint8Array(MiB - 1024).fill(65 + i),
      });
      expect(put.status).toBeLessThan(300);
    }
    const codes = [
      "const fs = await import('node:fs'); fs.readdirSync('/tmp/workspace').length",
      "1 + 1",
    ];
    for (let i = 0; i < 6; i++) {
      const code = codes[i % 2] as string;
      const res = await server.call(`/v1/sessions/${sessionId}/execute`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ code }),
      });
      expect(res.status).toBe(200);
      const result = (await res.json()) as ExecutionResult;
      expect(result.status, JSON.stringify(result.error)).toBe("ok");
      expect(result.result).toBe(i % 2 ? 2 : 10);
    }
  });
});
