import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Session } from "../../durable-objects/session";
import type { ExecutionResultBody } from "../../src/schemas/execution";
import { call } from "./helpers";
import { asTenant, createTenant } from "./tenant-helpers";

type Result = ExecutionResultBody;

async function createSession(body: Record<string, unknown> = {}, key?: string) {
  const init = {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(key ? { authorization: `Bearer ${key}` } : {}),
    },
    body: JSON.stringify(body),
  };
  const res = await call("/v1/sessions", init);
  expect(res.status).toBe(201);
  return (await res.json()) as { sessionId: string; token: string; expiresAt: string };
}

async function exec(id: string, code: string, extra: Record<string, unknown> = {}, auth?: string) {
  const res = await call(`/v1/sessions/${id}/execute`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(auth ? { authorization: `Bearer ${auth}` } : {}),
    },
    body: JSON.stringify({ code, ...extra }),
  });
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  return (await res.json()) as Result;
}

describe("session variables", () => {
  it("carries values by value and functions by source to the next execution", async () => {
    const { sessionId } = await createSession();
    await exec(sessionId, "const xs = [1, 2]; function sq(n) { return n * n }");
    const r = await exec(sessionId, "xs.map(sq)");
    expect(r).toMatchObject({ status: "ok", result: [1, 4] });
  });

  it("carries classes and functions that use other carried bindings", async () => {
    const { sessionId } = await createSession();
    await exec(
      sessionId,
      "const base = 10;\nclass Counter { constructor() { this.n = base } inc() { return ++this.n } }\nconst add = (a) => a + base;",
    );
    const r = await exec(sessionId, "const c = new Counter(); [c.inc(), add(5)]");
    expect(r.result).toEqual([11, 15]);
  });

  it("keeps a later execution's changes and lets a new declaration replace a binding", async () => {
    const { sessionId } = await createSession();
    await exec(sessionId, "let total = 1; const items = ['a'];");
    await exec(sessionId, "total += 41; items.push('b');");
    expect((await exec(sessionId, "[total, items]")).result).toEqual([42, ["a", "b"]]);
    await exec(sessionId, "const total = 'replaced';");
    expect((await exec(sessionId, "total")).result).toBe("replaced");
  });

  it("carries Map, Set, Date, BigInt, undefined and references shared within a value", async () => {
    const { sessionId } = await createSession();
    await exec(
      sessionId,
      "const shared = { n: 1 };\nconst m = new Map([['k', shared]]); const s = new Set([1n]); const d = new Date(0); let u; const pair = [shared, shared]; const cyc = {}; cyc.self = cyc;",
    );
    const r = await exec(
      sessionId,
      "[m.get('k').n, pair[0] === pair[1], s.has(1n), d.getTime(), u === undefined, m instanceof Map, cyc.self === cyc]",
    );
    expect(r.result).toEqual([1, true, true, 0, true, true, true]);
  });

  it("names what it cannot carry in a warn log instead of dropping it silently", async () => {
    const { sessionId } = await createSession();
    const r = await exec(
      sessionId,
      "const weak = new WeakMap();\nconst make = () => () => 1;\nconst made = make();\nconst fine = 1;",
    );
    expect(r.logs).toContainEqual({
      level: "warn",
      message: expect.stringMatching(
        /not carried to the next execution: .*weak \(not cloneable: a WeakMap\).*made \(a function that is not a top-level declaration\)/,
      ),
    });
    const info = (await (await call(`/v1/sessions/${sessionId}`)).json()) as {
      variables: string[];
    };
    expect(info.variables).toEqual(["make", "fine"]);
  });

  it("keeps what was declared before an error, as a REPL does", async () => {
    const { sessionId } = await createSession();
    const r = await exec(
      sessionId,
      "const before = 7;\nthrow new Error('boom');\nconst after = 8;",
    );
    expect(r.status).toBe("error");
    expect((await exec(sessionId, "typeof after === 'undefined' ? before : after")).result).toBe(7);
  });

  it("carries imports to later executions", async () => {
    const { sessionId } = await createSession();
    await exec(sessionId, "import { Buffer } from 'node:buffer';");
    expect((await exec(sessionId, "Buffer.from('ab').toString('hex')")).result).toBe("6162");
  });
});

describe("session workspace", () => {
  it("persists files written through node:fs and serves them through the files API", async () => {
    const { sessionId } = await createSession();
    await exec(
      sessionId,
      "import fs from 'node:fs';\nfs.mkdirSync('/tmp/workspace/out', { recursive: true });\nfs.writeFileSync('/tmp/workspace/out/a.txt', 'hello')",
    );
    const list = (await (await call(`/v1/sessions/${sessionId}/files`)).json()) as {
      files: { path: string; size: number }[];
    };
    expect(list.files).toEqual([expect.objectContaining({ path: "out/a.txt", size: 5 })]);
    const file = await call(`/v1/sessions/${sessionId}/files/out/a.txt`);
    expect(await file.text()).toBe("hello");
    const r = await exec(
      sessionId,
      "import fs from 'node:fs';\nfs.readFileSync('/tmp/workspace/out/a.txt', 'utf8')",
    );
    expect(r.result).toBe("hello");
  });

  it("lets code read a file put through the API, and forgets a deleted one", async () => {
    const { sessionId } = await createSession();
    const put = await call(`/v1/sessions/${sessionId}/files/data/in.json`, {
      method: "PUT",
      body: '{"x":3}',
    });
    expect(put.status).toBe(204);
    const r = await exec(
      sessionId,
      "import fs from 'node:fs';\nJSON.parse(fs.readFileSync('/tmp/workspace/data/in.json', 'utf8')).x",
    );
    expect(r.result).toBe(3);
    expect(
      (await call(`/v1/sessions/${sessionId}/files/data/in.json`, { method: "DELETE" })).status,
    ).toBe(204);
    const gone = await exec(
      sessionId,
      "import fs from 'node:fs';\nfs.existsSync('/tmp/workspace/data/in.json')",
    );
    expect(gone.result).toBe(false);
    expect((await call(`/v1/sessions/${sessionId}/files/data/in.json`)).status).toBe(404);
  });

  it("refuses paths that leave the workspace", async () => {
    const { sessionId } = await createSession();
    // Literal `..` segments are resolved by URL parsing before a request is sent; encoded ones
    // reach the server and must be refused there.
    for (const path of ["..%2Fetc%2Fpasswd", "a%2F..%2F..%2Fb", "x/..%2F..%2Fy"]) {
      const res = await call(`/v1/sessions/${sessionId}/files/${path}`, {
        method: "PUT",
        body: "x",
      });
      expect(res.status, path).toBe(400);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
  });

  it("answers 413 past the 10 MiB file cap and stores nothing", async () => {
    const { sessionId } = await createSession();
    const nine = new Uint8Array(9 * 1024 * 1024);
    expect(
      (await call(`/v1/sessions/${sessionId}/files/a.bin`, { method: "PUT", body: nine })).status,
    ).toBe(204);
    const two = new Uint8Array(2 * 1024 * 1024);
    const over = await call(`/v1/sessions/${sessionId}/files/b.bin`, { method: "PUT", body: two });
    expect(over.status).toBe(413);
    const list = (await (await call(`/v1/sessions/${sessionId}/files`)).json()) as {
      files: { path: string }[];
    };
    expect(list.files.map((f) => f.path)).toEqual(["a.bin"]);
  });

  it("gives one-shot executions an empty workspace", async () => {
    const res = await call("/v1/execute", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "import fs from 'node:fs';\nfs.readdirSync('/tmp/workspace')" }),
    });
    expect(((await res.json()) as Result).result).toEqual([]);
  });
});

describe("session tokens", () => {
  it("work on their own session's routes only", async () => {
    const { sessionId, token } = await createSession();
    const other = await createSession();
    expect((await exec(sessionId, "1 + 1", {}, token)).result).toBe(2);
    const info = await call(`/v1/sessions/${sessionId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(info.status).toBe(200);
    const elsewhere = await call(`/v1/sessions/${other.sessionId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(elsewhere.status).toBe(404);
    const oneShot = await call("/v1/execute", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ code: "1" }),
    });
    expect(oneShot.status).toBe(401);
    const create = await call("/v1/sessions", {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(create.status).toBe(401);
  });

  it("are refused once their session is deleted, and a forged token is refused", async () => {
    const { sessionId, token } = await createSession();
    expect(
      (
        await call(`/v1/sessions/${sessionId}`, {
          method: "DELETE",
          headers: { authorization: `Bearer ${token}` },
        })
      ).status,
    ).toBe(204);
    expect(
      (await call(`/v1/sessions/${sessionId}`, { headers: { authorization: `Bearer ${token}` } }))
        .status,
    ).toBe(404);
    const forged = `${token.slice(0, -4)}AAAA`;
    expect(
      (await call(`/v1/sessions/${sessionId}`, { headers: { authorization: `Bearer ${forged}` } }))
        .status,
    ).toBe(401);
  });
});

describe("session lifecycle", () => {
  it("answers 400 problem+json for malformed or invalid session options, and creates nothing", async () => {
    for (const body of ["{ nope", JSON.stringify({ ttlSeconds: 0 }), JSON.stringify({ ttl: 5 })]) {
      const res = await call("/v1/sessions", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      expect(res.status, body).toBe(400);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
    }
  });

  it("erases everything on delete; afterwards every route of it answers 404", async () => {
    const { sessionId } = await createSession();
    await exec(sessionId, "const a = 1;");
    await call(`/v1/sessions/${sessionId}/files/f.txt`, { method: "PUT", body: "x" });
    expect((await call(`/v1/sessions/${sessionId}`, { method: "DELETE" })).status).toBe(204);
    for (const [method, path] of [
      ["GET", ""],
      ["GET", "/executions"],
      ["GET", "/files"],
      ["GET", "/files/f.txt"],
      ["DELETE", ""],
    ] as const) {
      expect(
        (await call(`/v1/sessions/${sessionId}${path}`, { method })).status,
        `${method} ${path}`,
      ).toBe(404);
    }
    const run = await call(`/v1/sessions/${sessionId}/execute`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "a" }),
    });
    expect(run.status).toBe(404);
  });

  it("lists its executions, newest last, and counts them", async () => {
    const { sessionId } = await createSession();
    const first = await exec(sessionId, "1");
    const second = await exec(sessionId, "throw new Error('x')");
    const history = (await (await call(`/v1/sessions/${sessionId}/executions`)).json()) as {
      executions: { executionId: string; status: string; at: string; usage: object }[];
    };
    expect(history.executions.map((e) => [e.executionId, e.status])).toEqual([
      [first.executionId, "ok"],
      [second.executionId, "error"],
    ]);
    const info = (await (await call(`/v1/sessions/${sessionId}`)).json()) as { executions: number };
    expect(info.executions).toBe(2);
  });

  it("runs executions one at a time, in arrival order", async () => {
    const { sessionId } = await createSession();
    await exec(sessionId, "const order = [];");
    const slow = exec(
      sessionId,
      "await new Promise((r) => setTimeout(r, 300)); order.push('first');",
    );
    await new Promise((r) => setTimeout(r, 50));
    const fast = exec(sessionId, "order.push('second');");
    await Promise.all([slow, fast]);
    expect((await exec(sessionId, "order")).result).toEqual(["first", "second"]);
  });

  it("expires by its alarm and then answers 404", async () => {
    const { sessionId } = await createSession({ ttlSeconds: 60 });
    await exec(sessionId, "const a = 1;");
    const stub = env.SESSION.getByName(`dev:${sessionId}`);
    await runInDurableObject(stub, (_instance: Session, state) => {
      // Moves the expiry into the past instead of waiting for it.
      state.storage.sql.exec("UPDATE meta SET expires_at = ?", Date.now() - 1);
    });
    expect(await runDurableObjectAlarm(stub)).toBe(true);
    await runInDurableObject(stub, (_instance: Session, state) => {
      expect(state.storage.sql.exec("SELECT COUNT(*) AS n FROM variables").one().n).toBe(0);
    });
    expect((await call(`/v1/sessions/${sessionId}`)).status).toBe(404);
  });

  it("extends its idle TTL with each execution", async () => {
    const { sessionId, expiresAt } = await createSession({ ttlSeconds: 60 });
    await new Promise((r) => setTimeout(r, 20));
    await exec(sessionId, "1");
    const info = (await (await call(`/v1/sessions/${sessionId}`)).json()) as { expiresAt: string };
    expect(Date.parse(info.expiresAt)).toBeGreaterThan(Date.parse(expiresAt));
  });

  it("migrates its schema to the current version, once", async () => {
    const { sessionId } = await createSession();
    const stub = env.SESSION.getByName(`dev:${sessionId}`);
    const version = await stub.schemaVersion();
    expect(version).toBeGreaterThanOrEqual(1);
    await runInDurableObject(stub, (instance: Session) => {
      // Constructing the object again over the same storage must not fail or change anything.
      expect(instance.schemaVersion()).toBe(version);
    });
  });
});

describe("idempotency", () => {
  it("returns the stored result for a retried key without running the code again", async () => {
    const { sessionId } = await createSession();
    await exec(sessionId, "let runs = 0;");
    const send = (code: string) =>
      call(`/v1/sessions/${sessionId}/execute`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": "k-1" },
        body: JSON.stringify({ code }),
      });
    const first = (await (await send("runs += 1")).json()) as Result;
    const again = (await (await send("runs += 1")).json()) as Result;
    expect(again.executionId).toBe(first.executionId);
    expect((await exec(sessionId, "runs")).result).toBe(1);
    const other = await send("runs += 2");
    expect(other.status).toBe(422);
    expect(other.headers.get("content-type")).toBe("application/problem+json");
  });

  it("works on one-shot executions, per tenant", async () => {
    const send = (key?: string) =>
      call("/v1/execute", {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": "same-key" },
        body: JSON.stringify({ code: "crypto.randomUUID()" }),
        ...(key ? {} : {}),
      });
    const a = (await (await send()).json()) as Result;
    const b = (await (await send()).json()) as Result;
    expect(b.result).toBe(a.result);
    const tenant = await createTenant("idem");
    const theirs = await asTenant(tenant.apiKey, "/v1/execute", {
      method: "POST",
      headers: { "idempotency-key": "same-key" },
      body: JSON.stringify({ code: "crypto.randomUUID()" }),
    });
    expect(((await theirs.json()) as Result).result).not.toBe(a.result);
  });
});

describe("tenant isolation", () => {
  it("answers another tenant's key and token on a session with the same 404 as a missing one", async () => {
    const { sessionId, token } = await createSession();
    await call(`/v1/sessions/${sessionId}/files/secret.txt`, { method: "PUT", body: "mine" });
    const other = await createTenant("iso");
    for (const path of ["", "/executions", "/files", "/files/secret.txt"]) {
      const res = await asTenant(other.apiKey, `/v1/sessions/${sessionId}${path}`);
      expect(res.status, path).toBe(404);
    }
    const theirs = (await (
      await asTenant(other.apiKey, "/v1/sessions", { method: "POST", body: "{}" })
    ).json()) as {
      sessionId: string;
    };
    const crossed = await call(`/v1/sessions/${theirs.sessionId}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(crossed.status).toBe(404);
    const missing = await asTenant(other.apiKey, "/v1/sessions/ses_doesnotexist0000");
    expect(missing.status).toBe(404);
  });
});
