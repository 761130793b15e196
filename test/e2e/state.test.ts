import { request } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_KEY, type ExecutionResult, type Server, startServer } from "./server";

// Two execution slots for the dev tenant: few enough that a slot held by mistake shows as a 429.
const POLICY = JSON.stringify({ limits: { rate: 10_000, burst: 10_000, concurrency: 2 } });

let server: Server;

beforeAll(async () => {
  server = await startServer({ CORDON_DEV_POLICY: POLICY });
});
afterAll(async () => {
  await server?.stop();
});

async function newSession(): Promise<string> {
  const res = await server.call("/v1/sessions", { method: "POST" });
  expect(res.status).toBe(201);
  return ((await res.json()) as { sessionId: string }).sessionId;
}

function inSession(id: string, code: string): Promise<Response> {
  return server.call(`/v1/sessions/${id}/execute`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code }),
  });
}

/**
 * Sends `POST /v1/execute` with a declared Content-Length and only the first half of the body;
 * the rest goes when `finish` is called. Resolves with the status and the parsed answer.
 */
function trickle(code: string) {
  const body = Buffer.from(JSON.stringify({ code }));
  const half = Math.floor(body.byteLength / 2);
  const url = new URL("/v1/execute", server.url);
  let req: ReturnType<typeof request> | undefined;
  const answer = new Promise<{ status: number; body: ExecutionResult }>((resolve, reject) => {
    req = request(
      url,
      {
        method: "POST",
        headers: {
          authorization: `Bearer ${E2E_KEY}`,
          "content-type": "application/json",
          "content-length": String(body.byteLength),
        },
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => {
          text += chunk;
        });
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as ExecutionResult }),
        );
      },
    );
    req.on("error", reject);
    req.write(body.subarray(0, half));
  });
  return { answer, finish: () => req?.end(body.subarray(half)) };
}

describe("execution slots on npm start", () => {
  it("are not held by clients still sending their request bodies", async () => {
    const slow = [trickle("'first'"), trickle("'second'")];
    await new Promise((r) => setTimeout(r, 500));
    const meanwhile = await server.execute({ code: "'meanwhile'" });
    expect(meanwhile).toMatchObject({ status: "ok", result: "meanwhile" });
    for (const s of slow) s.finish();
    const answers = await Promise.all(slow.map((s) => s.answer));
    expect(answers.map((a) => [a.status, a.body.result])).toEqual([
      [200, "first"],
      [200, "second"],
    ]);
  });

  it("are not held by a session's executions waiting for their turn", async () => {
    const id = await newSession();
    const first = inSession(id, "await new Promise((r) => setTimeout(r, 1_000)); 0");
    await new Promise((r) => setTimeout(r, 150));
    const queued = Array.from({ length: 8 }, (_, i) => inSession(id, String(i + 1)));
    await new Promise((r) => setTimeout(r, 150));
    const other = await server.execute({ code: "'other'" });
    expect(other).toMatchObject({ status: "ok", result: "other" });
    const statuses = await Promise.all([first, ...queued].map(async (p) => (await p).status));
    expect(statuses).toEqual(Array(9).fill(200));
  });
});

describe("session state on npm start", () => {
  it("refuses a file where another file needs a directory, and the session keeps running", async () => {
    const id = await newSession();
    const put = (path: string) =>
      server.call(`/v1/sessions/${id}/files/${path}`, { method: "PUT", body: path });
    expect((await put("report")).status).toBe(204);
    const clash = await put("report/2024.csv");
    expect(clash.status).toBe(409);
    expect(clash.headers.get("content-type")).toBe("application/problem+json");
    const run = await inSession(
      id,
      "import fs from 'node:fs';\nfs.readFileSync('/tmp/workspace/report', 'utf8')",
    );
    expect(await run.json()).toMatchObject({ status: "ok", result: "report" });
  });

  it("is not stuck after the server dies during a session execution", async () => {
    const id = await newSession();
    expect((await inSession(id, "const before = 'kept';")).status).toBe(200);
    const dying = inSession(id, "await new Promise((r) => setTimeout(r, 5_000)); const lost = 1;")
      .then((res) => res.status)
      .catch(() => "connection lost");
    await new Promise((r) => setTimeout(r, 500));
    const dataDir = server.dataDir;
    await server.stop();
    await dying;
    server = await startServer({ CORDON_DEV_POLICY: POLICY }, dataDir);
    // The dead process's execution slots are counted until its limiter row lapses (15 s after
    // its last sync); a turn kept as a lock would make this answer 409 session-busy instead.
    let after = await inSession(id, "[before, typeof lost]");
    for (let tries = 0; after.status === 429 && tries < 30; tries++) {
      await new Promise((r) => setTimeout(r, Number(after.headers.get("retry-after")) * 1000));
      after = await inSession(id, "[before, typeof lost]");
    }
    expect(after.status).toBe(200);
    expect(await after.json()).toMatchObject({ status: "ok", result: ["kept", "undefined"] });
  });
});
