import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { call } from "./helpers";
import {
  admin,
  advanceLimiterClock,
  asTenant,
  createTenant,
  executeAs,
  limiterOf,
} from "./tenant-helpers";

/** A route that needs a tenant key and then answers 404: it costs a token and nothing else. */
/** A route that answers 404 once the key is checked (and the request counted). */
const AUTHED_404 = "/v1/sessions/ses_nosuchsession0000";

async function problem(res: Response) {
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  return (await res.json()) as { type: string; status: number; detail: string; limit?: string };
}

describe("request rate", () => {
  it("puts RateLimit and RateLimit-Policy on every authenticated answer", async () => {
    const tenant = await createTenant("headers", { limits: { rate: 1, burst: 5 } });
    const res = await asTenant(tenant.apiKey, AUTHED_404);
    expect(res.status).toBe(404);
    expect(res.headers.get("ratelimit")).toBe('"default";r=4;t=1');
    expect(res.headers.get("ratelimit-policy")).toBe('"default";q=5;w=1');
  });

  it("allows a burst, then answers 429 with Retry-After, RateLimit and RateLimit-Policy", async () => {
    const tenant = await createTenant("burst", { limits: { rate: 1, burst: 3 } });
    const remaining: (string | null)[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await asTenant(tenant.apiKey, AUTHED_404);
      expect(res.status).toBe(404);
      remaining.push(res.headers.get("ratelimit"));
    }
    expect(remaining).toEqual(['"default";r=2;t=1', '"default";r=1;t=2', '"default";r=0;t=3']);

    const limited = await asTenant(tenant.apiKey, AUTHED_404);
    expect(limited.status).toBe(429);
    expect(limited.headers.get("retry-after")).toBe("1");
    expect(limited.headers.get("ratelimit")).toBe('"default";r=0;t=1');
    expect(limited.headers.get("ratelimit-policy")).toBe('"default";q=3;w=1');
    const body = await problem(limited);
    expect(body.type).toMatch(/\/rate-limited$/);
    expect(body.limit).toBe("rate");
  });

  it("refills the bucket as the limiter's clock advances, never past the burst", async () => {
    const tenant = await createTenant("refill", { limits: { rate: 1, burst: 3 } });
    for (let i = 0; i < 3; i++) await asTenant(tenant.apiKey, AUTHED_404);
    expect((await asTenant(tenant.apiKey, AUTHED_404)).status).toBe(429);

    await advanceLimiterClock(tenant.id, 2_000);
    const refilled = await asTenant(tenant.apiKey, AUTHED_404);
    expect(refilled.status).toBe(404);
    expect(refilled.headers.get("ratelimit")).toMatch(/^"default";r=1;t=\d+$/);

    await advanceLimiterClock(tenant.id, 60_000);
    const full = await asTenant(tenant.apiKey, AUTHED_404);
    expect(full.headers.get("ratelimit")).toMatch(/^"default";r=2;t=\d+$/);
  });

  it("limits each tenant on its own", async () => {
    const busy = await createTenant("busy", { limits: { rate: 1, burst: 1 } });
    const calm = await createTenant("calm", { limits: { rate: 1, burst: 1 } });
    await asTenant(busy.apiKey, AUTHED_404);
    expect((await asTenant(busy.apiKey, AUTHED_404)).status).toBe(429);
    expect((await asTenant(calm.apiKey, AUTHED_404)).status).toBe(404);
  });

  it("never lets concurrent requests past the burst", async () => {
    const tenant = await createTenant("herd", { limits: { rate: 0.001, burst: 16 } });
    const statuses = await Promise.all(
      Array.from({ length: 40 }, () => asTenant(tenant.apiKey, AUTHED_404).then((r) => r.status)),
    );
    expect(statuses.filter((s) => s === 404)).toHaveLength(16);
    expect(statuses.filter((s) => s === 429)).toHaveLength(24);
  });

  it("takes tokens in batches, so most requests never reach the limiter object", async () => {
    const tenant = await createTenant("batched", { limits: { rate: 0.001, burst: 800 } });
    let last: Response | undefined;
    for (let i = 0; i < 20; i++) last = await asTenant(tenant.apiKey, AUTHED_404);
    const level = await runInDurableObject(limiterOf(tenant.id), (_instance, state) =>
      Number(state.storage.sql.exec("SELECT tokens FROM state").one().tokens),
    );
    // 20 requests took more than 20 tokens from the object: the rest wait in this isolate.
    expect(level).toBeLessThan(780);
    expect(last?.headers.get("ratelimit")).toMatch(/^"default";r=780;t=\d+$/);
  });

  it("does not count admin requests or answer them with RateLimit", async () => {
    const tenant = await createTenant("adminfree", { limits: { rate: 0.001, burst: 1 } });
    for (let i = 0; i < 3; i++) {
      const res = await admin(`/tenants/${tenant.id}`);
      expect(res.status).toBe(200);
      expect(res.headers.get("ratelimit")).toBeNull();
    }
    expect((await asTenant(tenant.apiKey, AUTHED_404)).status).toBe(404);
  });

  it("does not answer an unauthenticated request with RateLimit", async () => {
    const res = await call(AUTHED_404, { headers: { authorization: "Bearer nobody" } });
    expect(res.status).toBe(401);
    expect(res.headers.get("ratelimit")).toBeNull();
  });
});

describe("executions in flight", () => {
  const limits = (concurrency: number, wallMsPerMinute = 600_000) => ({
    concurrency,
    wallMsPerMinute,
  });

  /** Makes another isolate (a holder other than this one) run `n` executions of the tenant. */
  async function otherIsolateRuns(tenant: string, n: number, ttlMs = 60_000, wallMs = 0) {
    const stub = limiterOf(tenant);
    return stub.reserve("other-isolate", { inUse: n, want: n, wallMs }, limits(8), ttlMs);
  }

  it("answers 429 at once past the tenant's concurrency", async () => {
    const tenant = await createTenant("crowded", { limits: { concurrency: 1 } });
    expect((await otherIsolateRuns(tenant.id, 1)).slots).toBe(1);

    const refused = await executeAs(tenant.apiKey, "1 + 1");
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toMatch(/^\d+$/);
    expect(refused.headers.get("ratelimit")).toMatch(/^"default";r=\d+;t=\d+$/);
    expect(refused.headers.get("ratelimit-policy")).toBe('"default";q=40;w=1');
    const body = await problem(refused);
    expect(body.type).toMatch(/\/rate-limited$/);
    expect(body.limit).toBe("concurrency");

    await otherIsolateRuns(tenant.id, 0);
    expect((await executeAs(tenant.apiKey, "1 + 1")).status).toBe(200);
  });

  it("runs no more executions at once than the tenant's concurrency", async () => {
    const tenant = await createTenant("parallel", { limits: { concurrency: 2 } });
    const slow = "await new Promise((resolve) => setTimeout(resolve, 300)); 1";
    const statuses = await Promise.all(
      Array.from({ length: 5 }, () => executeAs(tenant.apiKey, slow).then((r) => r.status)),
    );
    expect(statuses.filter((s) => s === 200)).toHaveLength(2);
    expect(statuses.filter((s) => s === 429)).toHaveLength(3);
  });

  it("releases the slot after an execution whose code threw, so the next one runs", async () => {
    const tenant = await createTenant("thrower", { limits: { concurrency: 1 } });
    for (let i = 0; i < 3; i++) {
      const threw = await executeAs(tenant.apiKey, 'throw new Error("boom")');
      expect(threw.status).toBe(200);
      expect(await threw.json()).toMatchObject({ status: "error", error: { message: "boom" } });
    }
    expect((await executeAs(tenant.apiKey, "2")).status).toBe(200);
  });

  it("releases the slot after a request that failed validation", async () => {
    const tenant = await createTenant("invalid", { limits: { concurrency: 1 } });
    const bad = () =>
      asTenant(tenant.apiKey, "/v1/execute", {
        method: "POST",
        body: JSON.stringify({ code: 42 }),
      });
    expect((await bad()).status).toBe(400);
    expect((await bad()).status).toBe(400);
    expect((await executeAs(tenant.apiKey, "2")).status).toBe(200);
  });

  it("frees the slots of an isolate that died once they lapse", async () => {
    const tenant = await createTenant("orphan", { limits: { concurrency: 1 } });
    await otherIsolateRuns(tenant.id, 1, 5_000);
    expect((await executeAs(tenant.apiKey, "1")).status).toBe(429);

    await advanceLimiterClock(tenant.id, 5_001);
    expect(await limiterOf(tenant.id).slotsHeld()).toBe(0);
    expect((await executeAs(tenant.apiKey, "1")).status).toBe(200);
  });

  it("refuses executions once the minute's wall-time budget is spent, until it refills", async () => {
    const tenant = await createTenant("budget", { limits: { wallMsPerMinute: 1_000 } });
    // Another isolate ran 1.5 s of executions and has just reported them.
    await limiterOf(tenant.id).reserve(
      "other-isolate",
      { inUse: 0, want: 0, wallMs: 1_500 },
      limits(8, 1_000),
      60_000,
    );

    const refused = await executeAs(tenant.apiKey, "1");
    expect(refused.status).toBe(429);
    const body = await problem(refused);
    expect(body.limit).toBe("wallMsPerMinute");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(30);

    await advanceLimiterClock(tenant.id, 60_000);
    expect((await executeAs(tenant.apiKey, "1")).status).toBe(200);
  });

  it("charges an execution's wall time to the minute's budget", async () => {
    const tenant = await createTenant("charged", { limits: { wallMsPerMinute: 1_000 } });
    const slow = await executeAs(
      tenant.apiKey,
      "await new Promise((resolve) => setTimeout(resolve, 1100)); 1",
    );
    expect(slow.status).toBe(200);
    const refused = await executeAs(tenant.apiKey, "1");
    expect(refused.status).toBe(429);
    expect((await problem(refused)).limit).toBe("wallMsPerMinute");
  });
});

describe("a limiter that cannot be reached", () => {
  /** Makes the tenant's limiter fail every slot sync from now on, as an unreachable one would. */
  async function breakLimiter(tenant: string) {
    await runInDurableObject(limiterOf(tenant), (_instance, state) => {
      state.storage.sql.exec("DROP TABLE holders");
    });
  }

  const sleepy = (ms: number) =>
    `await new Promise((resolve) => setTimeout(resolve, ${ms})); ${ms}`;

  it("still answers an execution that finished when releasing its slot fails", async () => {
    const tenant = await createTenant("unreachable", { limits: { concurrency: 4 } });
    const long = executeAs(tenant.apiKey, sleepy(2_000));
    await new Promise((r) => setTimeout(r, 100));
    // Started in a slot held already: no sync with the limiter until it ends, a second later.
    const short = executeAs(tenant.apiKey, sleepy(1_200));
    await new Promise((r) => setTimeout(r, 100));
    await breakLimiter(tenant.id);
    for (const [res, ms] of [
      [await short, 1_200],
      [await long, 2_000],
    ] as const) {
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: "ok", result: ms });
    }
  });

  it("still ends a streamed execution with its result when releasing its slot fails", async () => {
    const tenant = await createTenant("unreachable-sse", { limits: { concurrency: 4 } });
    const long = executeAs(tenant.apiKey, sleepy(2_000));
    await new Promise((r) => setTimeout(r, 100));
    const streamed = await asTenant(tenant.apiKey, "/v1/execute", {
      method: "POST",
      headers: { accept: "text/event-stream" },
      body: JSON.stringify({ code: sleepy(1_200) }),
    });
    expect(streamed.status).toBe(200);
    await new Promise((r) => setTimeout(r, 100));
    await breakLimiter(tenant.id);
    const text = await Promise.race([
      streamed.text(),
      new Promise<string>((resolve) => setTimeout(() => resolve("(stream still open)"), 8_000)),
    ]);
    expect(text).toMatch(/event: result\ndata: \{[^\n]*"result":1200/);
    expect((await long).status).toBe(200);
  });
});

describe("when an execution takes its slot", () => {
  it("holds no slot for a session's executions waiting for their turn", async () => {
    const tenant = await createTenant("queued", { limits: { concurrency: 2 } });
    const created = await asTenant(tenant.apiKey, "/v1/sessions", { method: "POST", body: "{}" });
    const { token, sessionId } = (await created.json()) as { token: string; sessionId: string };
    const inSession = (code: string) =>
      call(`/v1/sessions/${sessionId}/execute`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ code }),
      });
    const first = inSession("await new Promise((resolve) => setTimeout(resolve, 1_000)); 0");
    await new Promise((r) => setTimeout(r, 100));
    const queued = Array.from({ length: 8 }, (_, i) => inSession(String(i + 1)));
    await new Promise((r) => setTimeout(r, 200));
    // One session token cannot take the tenant's slots: its running execution holds one.
    const other = await executeAs(tenant.apiKey, "'other'");
    expect(other.status).toBe(200);
    expect(await other.json()).toMatchObject({ status: "ok", result: "other" });
    const all = await Promise.all([first, ...queued]);
    expect(all.map((res) => res.status)).toEqual(Array(9).fill(200));
  });

  it("holds no slot while a client trickles its request body", async () => {
    const tenant = await createTenant("trickle", { limits: { concurrency: 1 } });
    const encoder = new TextEncoder();
    let finish: () => void = () => {};
    const rest = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const head = encoder.encode('{"code":');
    const tail = encoder.encode('"\\"slow\\""}');
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(head);
        await rest;
        controller.enqueue(tail);
        controller.close();
      },
    });
    // A declared length, as an HTTP client sends it: nothing in front reads the body first.
    const slow = asTenant(tenant.apiKey, "/v1/execute", {
      method: "POST",
      headers: { "content-length": String(head.byteLength + tail.byteLength) },
      body,
    });
    await new Promise((r) => setTimeout(r, 500));
    const meanwhile = await executeAs(tenant.apiKey, "'fast'");
    expect(meanwhile.status).toBe(200);
    finish();
    const res = await slow;
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", result: "slow" });
  });
});

describe("MCP tool calls", () => {
  it("count once against the tenant's rate, not once more for the /v1 call a tool makes", async () => {
    const tenant = await createTenant("mcp-rate", { limits: { rate: 0.001, burst: 2 } });
    const res = await asTenant(tenant.apiKey, "/mcp", {
      method: "POST",
      headers: { accept: "application/json, text/event-stream" },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "tools/call",
        params: { name: "execute", arguments: { code: "6 * 7" } },
      }),
    });
    expect(res.status).toBe(200);
    const rpc = (await res.json()) as { result: { structuredContent: { result: unknown } } };
    expect(rpc.result.structuredContent.result).toBe(42);
    // Two requests' worth of burst, one spent by the tool call: one is left.
    const next = await asTenant(tenant.apiKey, AUTHED_404);
    expect(next.status).toBe(404);
    expect(next.headers.get("ratelimit")).toMatch(/^"default";r=0;t=\d+$/);
  });
});

describe("slot rows of an isolate", () => {
  const heldRows = (tenant: string) =>
    runInDurableObject(limiterOf(tenant), (_instance, state) =>
      state.storage.sql
        .exec<{ expires_at: number }>("SELECT expires_at FROM holders")
        .toArray()
        .map((row) => row.expires_at),
    );

  it("lapse within 15 s of its last sync, so a dead isolate's slots come back soon", async () => {
    const tenant = await createTenant("lapsing");
    expect((await executeAs(tenant.apiKey, "1")).status).toBe(200);
    const rows = await heldRows(tenant.id);
    expect(rows.length).toBeGreaterThan(0);
    for (const expiresAt of rows) expect(expiresAt).toBeLessThanOrEqual(Date.now() + 15_000);
  });

  it("are renewed while a long execution runs, so its slot stays counted", async () => {
    const tenant = await createTenant("renewed", { limits: { concurrency: 1 } });
    // A timeout longer than a row lives: a shorter execution ends before its row could lapse.
    const long = asTenant(tenant.apiKey, "/v1/execute", {
      method: "POST",
      body: JSON.stringify({
        code: "await new Promise((resolve) => setTimeout(resolve, 6_000)); 'done'",
        timeoutMs: 20_000,
      }),
    });
    await new Promise((r) => setTimeout(r, 5_500));
    // 10 s later the row made when the execution started has lapsed; a renewed one has not.
    await advanceLimiterClock(tenant.id, 10_000);
    const other = await limiterOf(tenant.id).reserve(
      "other-isolate",
      { inUse: 0, want: 1, wallMs: 0 },
      { concurrency: 1, wallMsPerMinute: 600_000 },
      60_000,
    );
    expect(other.slots).toBe(0);
    expect((await long).status).toBe(200);
  });
});
