import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExecutionResult, type Server, startServer } from "./server";

// The runner pool and the control plane under hostile load (docs/self-hosting.md): big answers,
// memory past a tenant's limit, runs that share a runner with the one that takes it down, and
// the quarantine per tenant. A neighbour tenant is timed during each hostile run.

const ADMIN = "e2e-admin-token-runners-0123";

let server: Server;
let neighbourKey = "";
let baselineMs = 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

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
  return { status: res.status, body: (await res.json()) as ExecutionResult };
}

async function neighbour(): Promise<{ ms: number; result: ExecutionResult }> {
  const started = Date.now();
  const { body } = await executeAs(neighbourKey, { code: "input * 2", input: 21 });
  return { ms: Date.now() - started, result: body };
}

/**
 * Times the neighbour every 200 ms until `done` settles, from 300 ms on (as hostile.test.ts
 * does): a run sent in the first 100 ms to a runner that hostile code has just frozen cannot be
 * told from one sent to a busy runner, and shares that runner's fate (it is run again, later).
 */
async function watchNeighbour(done: Promise<unknown>) {
  let finished = false;
  void done.finally(() => {
    finished = true;
  });
  const answers: { ms: number; result: ExecutionResult }[] = [];
  await sleep(300);
  do {
    answers.push(await neighbour());
    await sleep(200);
  } while (!finished);
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

const OPEN_LIMITS = { rate: 10_000, burst: 10_000, concurrency: 256 };
let innocentKey = "";
let heavyKey = "";
let otherKey = "";

interface Incident {
  tenant: string;
  codeHash: string;
  reason: string;
  quarantinedUntil?: string;
}

async function incidents(): Promise<Incident[]> {
  return ((await (await admin("/v1/admin/incidents")).json()) as { incidents: Incident[] })
    .incidents;
}

/** Code that allocates `input.mb` MB in 16 MB buffers it writes to (so they are resident). */
const ALLOCATE =
  "const kept = [];\nfor (let i = 0; i < input.mb / 16; i++) kept.push(new Uint8Array(16 * 2 ** 20).fill(1));\nkept.length * 16";

/** Code that waits `input.ms`, then answers. */
const WAIT = 'await new Promise((r) => setTimeout(r, input.ms));\n"waited"';

const logText = (result: ExecutionResult) => result.logs.map((l) => l.message).join("\n");

/**
 * Sends the innocent tenant's 1.5 s wait and the dev tenant's hostile run at once, both warm so
 * that they gather in the same runner (src/sandbox/runner-pool.ts), with the neighbour timed.
 * If the routing put them apart after all (the innocent's logs do not say it ran again), tries
 * again with new code (the old one is quarantined), at most three times.
 */
async function together(code: string, warmInput: unknown, input: unknown, timeoutMs: number) {
  for (let round = 1; ; round++) {
    const hostileCode = `${code}\n// round ${round}`;
    for (let i = 0; i < 2; i++) {
      expect((await executeAs(innocentKey, { code: WAIT, input: { ms: 1 } })).status).toBe(200);
      expect((await server.execute({ code: hostileCode, input: warmInput })).status).toBe("ok");
    }
    const pair = Promise.all([
      executeAs(innocentKey, { code: WAIT, input: { ms: 1500 }, timeoutMs: 6000 }),
      server.execute({ code: hostileCode, input, timeoutMs }),
    ]);
    const answers = await watchNeighbour(pair);
    const [innocent, hostile] = await pair;
    if (/ran again/.test(logText(innocent.body)) || round === 3) {
      return { innocent, hostile, answers };
    }
  }
}

beforeAll(async () => {
  server = await startServer({ CORDON_ADMIN_TOKEN: ADMIN });
  neighbourKey = await createTenant("neighbour", { limits: { rate: 1000, burst: 1000 } });
  innocentKey = await createTenant("innocent", { limits: OPEN_LIMITS });
  heavyKey = await createTenant("heavy", { limits: { ...OPEN_LIMITS, memoryMb: 512 } });
  otherKey = await createTenant("other", { limits: OPEN_LIMITS });
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
      // Digits: 4 MiB of letters costs the output redaction itself most of a second.
      code: "throw new Error('0123456789'.repeat(419431).slice(0, 4 * 1024 * 1024))",
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

describe("memory per execution (limits.memoryMb)", () => {
  it("kills a run past its tenant's 128 MB with reason memory and charges that tenant, while a neighbour carries on", async () => {
    const started = Date.now();
    const bomb = server.execute({ code: ALLOCATE, input: { mb: 512 }, timeoutMs: 5000 });
    const answers = watchNeighbour(bomb);
    const result = await bomb;
    expect(result.status).toBe("killed");
    expect(result.error?.message).toMatch(/memory/);
    expect(result.error?.message).toMatch(/128 MB/);
    expect(Date.now() - started).toBeLessThan(5000 + 1000);
    expectNeighbourUnharmed(await answers);

    const charged = (await incidents()).filter((i) => i.tenant === "dev");
    expect(charged.at(-1)?.reason).toMatch(/^killed: memory: /);
    expect(charged.at(-1)?.quarantinedUntil).toEqual(expect.any(String));
  });

  it("lets a tenant whose policy allows 512 MB use 256 MB", async () => {
    const { status, body } = await executeAs(heavyKey, {
      code: `${ALLOCATE}\n// heavy`,
      input: { mb: 256 },
      timeoutMs: 5000,
    });
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: "ok", result: 256 });
  });

  it("runs again, alone, a run that shared its runner with a memory bomb: it answers ok, uncharged and not quarantined", async () => {
    const met = await together(`${ALLOCATE}\n// shared`, { mb: 0 }, { mb: 1024 }, 6000);
    expect(met.innocent.status).toBe(200);
    expect(met.innocent.body).toMatchObject({ status: "ok", result: "waited" });
    // It was on the runner that was lost, and says so.
    expect(logText(met.innocent.body)).toMatch(/ran again from the start, alone/);
    expect(met.hostile.status).toBe("killed");
    expect(met.hostile.error?.message).toMatch(/memory/);
    expectNeighbourUnharmed(met.answers);

    const listed = await incidents();
    expect(listed.filter((i) => i.tenant === "innocent")).toEqual([]);
    expect(listed.filter((i) => i.tenant === "dev").at(-1)?.reason).toMatch(/^killed: memory: /);
    const again = await executeAs(innocentKey, { code: WAIT, input: { ms: 1 } });
    expect(again.status).toBe(200);
  });
});

describe("a runner frozen past a deadline", () => {
  it("runs again a run that shared the runner with a runaway regex; only the regex is charged", async () => {
    const aaa = "a".repeat(40);
    const met = await together("/(a+)+$/.test(input)", "aaa", `${aaa}b`, 1000);
    expect(met.hostile.status).toBe("killed");
    expect(met.hostile.error?.message).toMatch(/past its deadline/);
    expect(met.innocent.status).toBe(200);
    expect(met.innocent.body).toMatchObject({ status: "ok", result: "waited" });
    expect(logText(met.innocent.body)).toMatch(/froze the runner/);
    expectNeighbourUnharmed(met.answers);

    const listed = await incidents();
    expect(listed.filter((i) => i.tenant === "innocent")).toEqual([]);
    expect(listed.filter((i) => i.tenant === "dev").at(-1)?.reason).toMatch(/^killed: hung: /);
  });
});

describe("quarantine per tenant", () => {
  it("refuses the pathological tenant its code while another tenant's identical code still runs", async () => {
    const code = "/^(a+)+$/.test(input.s)";
    const first = server.execute({ code, input: { s: `${"a".repeat(40)}b` }, timeoutMs: 1000 });
    const answers = watchNeighbour(first);
    expect((await first).status).toBe("killed");
    expectNeighbourUnharmed(await answers);

    const other = await executeAs(otherKey, { code, input: { s: "aaa" } });
    expect(other.status).toBe(200);
    expect(other.body).toMatchObject({ status: "ok", result: true });

    const refused = await server.call("/v1/execute", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code, input: { s: "aaa" } }),
    });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { type: string }).type).toMatch(/\/code-quarantined$/);
  });
});

describe("every runner frozen", () => {
  // Runs go to a frozen runner only when every runner is frozen, so no neighbour is timed here:
  // this case is about who is charged when a run that never started meets its deadline first.
  it("answers killed, uncharged, a run whose deadline passed on a runner frozen before it came", async () => {
    const regex = "/(b+)+$/.test(input)";
    for (let i = 0; i < 2; i++) {
      expect((await server.execute({ code: regex, input: "bbb" })).status).toBe("ok");
    }
    const runners = Number(/\((\d+) runners/.exec(server.output())?.[1]);
    expect(runners).toBeGreaterThanOrEqual(2);
    const hogs = Array.from({ length: runners }, async (_, i) => {
      await sleep(150 * i);
      return server.execute({ code: regex, input: `${"b".repeat(40)}c`, timeoutMs: 3000 });
    });
    await sleep(500 + 150 * runners);
    const late = await executeAs(innocentKey, {
      code: `${WAIT}\n// late`,
      input: { ms: 1 },
      timeoutMs: 500,
    });
    expect(late.status).toBe(200);
    expect(late.body.status).toBe("killed");
    expect(late.body.error?.message).toMatch(/another execution froze the runner/);
    for (const hog of await Promise.all(hogs)) expect(hog.status).toBe("killed");

    expect((await incidents()).filter((i) => i.tenant === "innocent")).toEqual([]);
    const again = await executeAs(innocentKey, {
      code: `${WAIT}\n// late`,
      input: { ms: 1 },
    });
    expect(again.body).toMatchObject({ status: "ok", result: "waited" });
  });
});
