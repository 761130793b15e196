import { createServer as createHttpServer } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { neighbourRun, watchHealth as watchServerHealth } from "./neighbour";
import { type ExecutionResult, type Server, startServer } from "./server";

const ADMIN = "e2e-admin-token-0123456789";
const TIMEOUT_MS = 2000;

// A loopback upstream the dev tenant may reach, so a fetch flood meets the subrequest cap
// (only requests that leave count against it).
const floodUpstream = createHttpServer((_req, res) => res.end("ok"));
await new Promise<void>((resolve) => floodUpstream.listen(0, "127.0.0.1", resolve));
const FLOOD_ORIGIN = `http://127.0.0.1:${(floodUpstream.address() as { port: number }).port}`;

let server: Server;
let neighbourKey = "";
let baselineMs = 0;
let sessionId = "";

const admin = (path: string, init: RequestInit = {}) =>
  server.call(path, { ...init, headers: { authorization: `Bearer ${ADMIN}`, ...init.headers } });

const neighbour = () => neighbourRun(server, neighbourKey);

const watchHealth = (done: Promise<unknown>) => watchServerHealth(server, done);

beforeAll(async () => {
  server = await startServer({
    CORDON_ADMIN_TOKEN: ADMIN,
    CORDON_ALLOW_PRIVATE_EGRESS: "1",
    CORDON_DEV_POLICY: JSON.stringify({
      egress: { allow: [FLOOD_ORIGIN] },
      limits: { rate: 10_000, burst: 10_000, concurrency: 256 },
    }),
  });
  const created = await admin("/v1/admin/tenants", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ id: "neighbour", policy: { limits: { rate: 1000, burst: 1000 } } }),
  });
  expect(created.status).toBe(201);
  neighbourKey = ((await created.json()) as { apiKey: string }).apiKey;
  const session = await server.call("/v1/sessions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ttlSeconds: 3600 }),
  });
  sessionId = ((await session.json()) as { sessionId: string }).sessionId;
  await server.call(`/v1/sessions/${sessionId}/execute`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code: "const kept = { n: 42 };" }),
  });
  await server.call(`/v1/sessions/${sessionId}/files/kept.txt`, { method: "PUT", body: "safe" });
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) samples.push((await neighbour()).ms);
  baselineMs = samples.sort((a, b) => a - b)[2] ?? 0;
}, 120_000);

afterAll(async () => {
  await server?.stop();
  floodUpstream.close();
});

const cases: [string, string, RegExp][] = [
  ["an endless synchronous loop", "while (true) {}", /^(timeout|killed)$/],
  ["an endless async loop", "for (;;) await null", /^(timeout|killed)$/],
  ["catastrophic regex backtracking", "/(a+)+$/.test('a'.repeat(40) + 'b')", /^(timeout|killed)$/],
  ["unbounded recursion", "function f() { return f() + 1 }\nf()", /^(error|timeout|killed)$/],
  [
    "a heap memory bomb",
    "const a = [];\nfor (;;) a.push(new Array(1e6).fill(1))",
    /^(timeout|killed)$/,
  ],
  [
    "an ArrayBuffer memory bomb",
    "const a = [];\nfor (;;) a.push(new Uint8Array(64 * 1024 * 1024).fill(7))",
    /^(timeout|killed)$/,
  ],
  [
    "a promise and microtask flood",
    "const f = () => Promise.resolve().then(f);\nf();\nawait new Promise(() => setTimeout(() => {}, 1e9))",
    /^(timeout|killed)$/,
  ],
  ["a log flood", "for (let i = 0; i < 1e6; i++) console.log('flood', i)", /^(ok|timeout)$/],
  ["a giant result", "'x'.repeat(64 * 1024 * 1024)", /^error$/],
  [
    "a fetch flood past the subrequest cap",
    `let denied = 0;\nfor (let i = 0; i < 200; i++) { try { await fetch("${FLOOD_ORIGIN}/" + i) } catch { denied++ } }\ndenied`,
    /^ok$/,
  ],
  [
    "a timer flood",
    "for (let i = 0; i < 2e5; i++) setTimeout(() => {}, 1e9);\nsetInterval(() => { for (let i = 0; i < 1e3; i++) setTimeout(() => {}, 0) }, 0);\nawait new Promise(() => setTimeout(() => {}, 1e9))",
    /^(timeout|killed|error)$/,
  ],
];

describe.each(cases)("hostile code: %s", (name, code, statuses) => {
  it("ends cleanly within its timeout + 1 s while a neighbour, /healthz and stored data carry on", async () => {
    const started = Date.now();
    const hostile = server.execute({ code, timeoutMs: TIMEOUT_MS });
    const health = watchHealth(hostile);
    await new Promise((r) => setTimeout(r, 300));
    const other = await neighbour();
    const result = await hostile;
    const elapsed = Date.now() - started;

    expect(result.status, `${name}: ${JSON.stringify(result.error)}`).toMatch(statuses);
    if (result.status === "error") {
      expect(result.error?.name).toMatch(/ResultTooLarge|RangeError|QuotaExceededError/);
    }
    if (name === "a log flood") expect(result.logs.at(-1)?.truncated).toBe(true);
    expect(elapsed).toBeLessThan(TIMEOUT_MS + 1000);

    expect(other.result).toMatchObject({ status: "ok", result: 42 });
    expect(other.ms - baselineMs).toBeLessThan(1000);

    const { failures, slowest } = await health;
    expect(failures).toBe(0);
    expect(slowest).toBeLessThan(1000);

    const tenant = await admin("/v1/admin/tenants/neighbour");
    expect(tenant.status).toBe(200);
    expect(((await tenant.json()) as { keys: unknown[] }).keys).toHaveLength(1);
    const file = await server.call(`/v1/sessions/${sessionId}/files/kept.txt`);
    expect(await file.text()).toBe("safe");
    const kept = await server.call(`/v1/sessions/${sessionId}/execute`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "kept.n" }),
    });
    expect(((await kept.json()) as ExecutionResult).result).toBe(42);

    const listed = await admin("/v1/admin/incidents");
    const { incidents } = (await listed.json()) as {
      incidents: { tenant: string; codeHash: string; reason: string }[];
    };
    expect(incidents.at(-1)).toMatchObject({ tenant: "dev", codeHash: expect.any(String) });
    expect(incidents.at(-1)?.reason).toMatch(/^(timeout|killed|cap): /);
  });
});

describe("a runner frozen by code that ran warm before", () => {
  // Warm runs gather in one runner (src/sandbox/backends/runner-pool.ts); this one freezes it on one input.
  it("gets no new work while frozen: neighbours' runs answer at once meanwhile", async () => {
    const code = "/(a+)+$/.test(input)";
    for (let i = 0; i < 3; i++) {
      expect(await server.execute({ code, input: "aaa" })).toMatchObject({ result: true });
    }
    const hostile = server.execute({ code, input: `${"a".repeat(40)}b`, timeoutMs: TIMEOUT_MS });
    await new Promise((r) => setTimeout(r, 300));
    const others = await Promise.all([neighbour(), neighbour(), neighbour()]);
    for (const other of others) {
      expect(other.result).toMatchObject({ status: "ok", result: 42 });
      expect(other.ms - baselineMs).toBeLessThan(1000);
    }
    expect((await hostile).status).toMatch(/^(timeout|killed)$/);
  });
});

describe("quarantine", () => {
  it("refuses code that took a runtime down with a 403 code-quarantined problem", async () => {
    const code = "/(x+x+)+y/.test('x'.repeat(60))";
    const first = await server.execute({ code, timeoutMs: 500 });
    expect(first.status).toBe("killed");
    const again = await server.call("/v1/execute", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code, timeoutMs: 500 }),
    });
    expect(again.status).toBe(403);
    expect(again.headers.get("content-type")).toBe("application/problem+json");
    expect(((await again.json()) as { type: string }).type).toMatch(/\/code-quarantined$/);
  });
});
