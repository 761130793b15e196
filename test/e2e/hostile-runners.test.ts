import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExecutionResult, type Server, startServer } from "./server";

// The runner pool and the control plane under hostile load (docs/self-hosting.md): big answers,
// memory past a tenant's limit, runs that share a runner with the one that takes it down, and
// the quarantine per tenant. A neighbour tenant is timed during each hostile run.

const ADMIN = "e2e-admin-token-runners-0123";

let server: Server;
let neighbourKey = "";
let baselineMs = 0;

const admin = (path: string, init: RequestInit = {}) =>
  server.call(path, { ...init, headers: { authorization: `Bearer ${ADMIN}`, ...init.headers } });

async function createTenant(id: string, policy: Record<string, unknown>): Promise<string> {
  const created = await admin("/v1/admin/tenants", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ id, policy }),
  });
  expect(created.status).toBe(201);
  return ((await created.json()) as { apiKey: string }).apiKey;
}

/** Runs code as the tenant with this key; resolves with the HTTP status and the parsed body. */
async function executeAs(key: string, body: Record<string, unknown>) {
  const res = await server.call("/v1/execute", {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as ExecutionResult & { type?: string } };
}

async function neighbour(): Promise<{ ms: number; result: ExecutionResult }> {
  const started = Date.now();
  const { body } = await executeAs(neighbourKey, { code: "input * 2", input: 21 });
  return { ms: Date.now() - started, result: body };
}

/** Times the neighbour every 200 ms until `done` settles; resolves with its slowest answer. */
async function watchNeighbour(done: Promise<unknown>) {
  let finished = false;
  void done.finally(() => {
    finished = true;
  });
  const answers: { ms: number; result: ExecutionResult }[] = [];
  while (!finished) {
    answers.push(await neighbour());
    await new Promise((r) => setTimeout(r, 200));
  }
  return answers;
}

/** Expects every neighbour answer to be right and at most 1 s slower than the baseline. */
function expectNeighbourUnharmed(answers: { ms: number; result: ExecutionResult }[]) {
  expect(answers.length).toBeGreaterThan(0);
  for (const answer of answers) {
    expect(answer.result).toMatchObject({ status: "ok", result: 42 });
    expect(answer.ms - baselineMs).toBeLessThan(1000);
  }
}

beforeAll(async () => {
  server = await startServer({ CORDON_ADMIN_TOKEN: ADMIN });
  neighbourKey = await createTenant("neighbour", { limits: { rate: 1000, burst: 1000 } });
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) samples.push((await neighbour()).ms);
  baselineMs = samples.sort((a, b) => a - b)[2] ?? 0;
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

describe("big answers from a runner", () => {
  it("answers a 4 MiB error message within the run's timeout while a neighbour carries on", async () => {
    const hostile = server.execute({
      code: "throw new Error('x'.repeat(4 * 1024 * 1024))",
      timeoutMs: 3000,
    });
    const answers = watchNeighbour(hostile);
    const result = await hostile;
    expect(result.status).toBe("error");
    expect(result.error?.message).toHaveLength(4 * 1024 * 1024);
    expectNeighbourUnharmed(await answers);
  });

  it("answers a session run that writes a 5 MiB file within its timeout, and keeps the file", async () => {
    const created = await server.call("/v1/sessions", { method: "POST" });
    const { sessionId } = (await created.json()) as { sessionId: string };
    const write = server.call(`/v1/sessions/${sessionId}/execute`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        code: 'import fs from "node:fs";\nfs.writeFileSync("/tmp/workspace/big.bin", new Uint8Array(5 * 1024 * 1024).fill(65));\n"written"',
        timeoutMs: 3000,
      }),
    });
    const answers = watchNeighbour(write);
    const result = (await (await write).json()) as ExecutionResult;
    expect(result).toMatchObject({ status: "ok", result: "written" });
    expectNeighbourUnharmed(await answers);
    const file = await server.call(`/v1/sessions/${sessionId}/files/big.bin`);
    expect((await file.arrayBuffer()).byteLength).toBe(5 * 1024 * 1024);
  });
});
