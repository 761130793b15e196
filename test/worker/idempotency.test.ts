import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ExecutionResultBody } from "../../src/schemas/execution";
import { call } from "./helpers";

type Result = ExecutionResultBody;

async function newSession(): Promise<string> {
  const res = await call("/v1/sessions", { method: "POST" });
  expect(res.status).toBe(201);
  return ((await res.json()) as { sessionId: string }).sessionId;
}

function send(path: string, key: string, code = "crypto.randomUUID()") {
  return call(path, {
    method: "POST",
    headers: { "content-type": "application/json", "idempotency-key": key },
    body: JSON.stringify({ code }),
  });
}

async function result(res: Response): Promise<Result> {
  expect(res.status).toBe(200);
  return (await res.json()) as Result;
}

/** The dev tenant's idempotency store, as the worker uses it. */
const store = () => env.IDEMPOTENCY.getByName("dev");

describe("idempotency keys per route", () => {
  it("treats the same key in two sessions and on the one-shot route as three independent keys", async () => {
    const key = `per-route-${crypto.randomUUID()}`;
    const [a, b] = [await newSession(), await newSession()];
    const inA = await result(await send(`/v1/sessions/${a}/execute`, key));
    const inB = await result(await send(`/v1/sessions/${b}/execute`, key));
    const oneShot = await result(await send("/v1/execute", key));
    expect(new Set([inA.result, inB.result, oneShot.result]).size).toBe(3);
    // Each is still a key of its own route: a retry replays that route's answer.
    expect((await result(await send(`/v1/sessions/${b}/execute`, key))).executionId).toBe(
      inB.executionId,
    );
    expect((await result(await send("/v1/execute", key))).executionId).toBe(oneShot.executionId);
  });
});

describe("idempotency claims", () => {
  it("takes over a claim left running by a request that died, once its lease has passed", async () => {
    const key = `crashed-${crypto.randomUUID()}`;
    const first = await result(await send("/v1/execute", key));
    // What a worker that died mid-run leaves behind: the claim, running, with no answer.
    const crash = (leaseLeftMs: number) =>
      runInDurableObject(store(), (_instance, state) => {
        state.storage.sql.exec(
          "UPDATE claims SET result = NULL, lease_until = ? WHERE key = ?",
          Date.now() + leaseLeftMs,
          key,
        );
      });
    await crash(60_000);
    const busy = await send("/v1/execute", key);
    expect(busy.status).toBe(409);
    expect(((await busy.json()) as { type: string }).type).toMatch(/\/idempotency-key-in-use$/);

    await crash(-1);
    const retried = await result(await send("/v1/execute", key));
    expect(retried.executionId).not.toBe(first.executionId);
    expect((await result(await send("/v1/execute", key))).executionId).toBe(retried.executionId);
  });

  it("gives a running claim a lease of the execution's timeout plus a minute", async () => {
    const key = `lease-${crypto.randomUUID()}`;
    const before = Date.now();
    const running = call("/v1/execute", {
      method: "POST",
      headers: { "content-type": "application/json", "idempotency-key": key },
      body: JSON.stringify({
        code: "await new Promise((r) => setTimeout(r, 500)); 1",
        timeoutMs: 5_000,
      }),
    });
    await new Promise((r) => setTimeout(r, 250));
    const until = await runInDurableObject(store(), (_instance, state) =>
      Number(
        state.storage.sql.exec("SELECT lease_until FROM claims WHERE key = ?", key).one()
          .lease_until,
      ),
    );
    expect(until).toBeGreaterThanOrEqual(before + 65_000);
    expect(until).toBeLessThanOrEqual(Date.now() + 65_000);
    expect((await running).status).toBe(200);
  });

  it("never lets the request that lost its claim overwrite or free the new claim", async () => {
    const key = `fenced-${crypto.randomUUID()}`;
    const old = await store().claim("execute", key, "hash", 60_000);
    if (old.kind !== "new") throw new Error(`expected a new claim, got ${old.kind}`);
    await runInDurableObject(store(), (_instance, state) => {
      state.storage.sql.exec("UPDATE claims SET lease_until = ? WHERE key = ?", Date.now(), key);
    });
    const taken = await store().claim("execute", key, "hash", 60_000);
    if (taken.kind !== "new") throw new Error(`expected a takeover, got ${taken.kind}`);
    await store().release("execute", key, old.token);
    expect((await store().claim("execute", key, "hash", 60_000)).kind).toBe("running");
    await store().complete("execute", key, old.token, '"late"');
    expect((await store().claim("execute", key, "hash", 60_000)).kind).toBe("running");
    await store().complete("execute", key, taken.token, '"current"');
    expect(await store().claim("execute", key, "hash", 60_000)).toEqual({
      kind: "replay",
      result: '"current"',
    });
  });
});
