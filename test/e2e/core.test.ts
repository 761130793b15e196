import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { childrenOf, E2E_KEY, type Server, startServer } from "./server";

let server: Server;
beforeAll(async () => {
  server = await startServer({ CORDON_E2E_HOST_SECRET: "host-only-value" });
});
afterAll(async () => {
  await server?.stop();
});

describe("npm start", () => {
  it("answers the README's curl example with what the README shows", async () => {
    const readme = readFileSync("README.md", "utf8");
    const body = /curl[^\n]*\/v1\/execute[\s\S]*?-d '([^']+)'/.exec(readme)?.[1];
    const shown = /```json\n(\{\s*"executionId"[\s\S]*?)\n```/.exec(readme)?.[1];
    expect(body, "README has a curl example").toBeDefined();
    expect(shown, "README shows the answer").toBeDefined();
    const res = await server.call("/v1/execute", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: body ?? "",
    });
    expect(res.status).toBe(200);
    const actual = (await res.json()) as Record<string, unknown>;
    const expected = JSON.parse(shown ?? "{}") as Record<string, unknown>;
    const { executionId, usage, ...rest } = expected;
    expect(actual).toMatchObject(rest);
    expect(typeof actual.executionId).toBe(typeof executionId);
    expect(Object.keys(actual.usage as object)).toEqual(Object.keys(usage as object));
  });

  it("runs TypeScript and maps an error to the line and column of the TypeScript source", async () => {
    const r = await server.execute({
      language: "typescript",
      code: "type N = number;\nconst twice = (n: N): N => n * 2;\nconst v: N = twice(input as N);\nif (v > 3) throw new Error(`too big: ${v}`);\nv",
      input: 2,
    });
    expect(r).toMatchObject({
      status: "error",
      error: { message: "too big: 4", line: 4, column: 18 },
    });
  });

  it("does not show the host's environment variables or globals to the guest", async () => {
    const r = await server.execute({
      code: `({ env: JSON.stringify(process.env), hasLoader: "LOADER" in globalThis,
  secret: Object.getOwnPropertyNames(globalThis).some((k) => String(globalThis[k]).includes("host-only-value")) })`,
    });
    expect(r.result).toEqual({ env: "{}", hasLoader: false, secret: false });
  });

  it("denies all egress with a TypeError", async () => {
    const r = await server.execute({
      code: "let m; try { await fetch('http://127.0.0.1:1/') } catch (e) { m = e.constructor.name + ': ' + e.message }\nm",
    });
    expect(r.result).toMatch(/^TypeError: .*egress is not allowed/);
    expect(r.egress[0]).toMatchObject({ decision: "denied", url: "http://127.0.0.1:1/" });
  });

  it("ends an execution past its timeout as timeout", async () => {
    const started = Date.now();
    const r = await server.execute({ code: "await new Promise(() => {})", timeoutMs: 300 });
    expect(r.status).toBe("timeout");
    expect(Date.now() - started).toBeLessThan(1300);
  });

  it("answers errors as problem+json over HTTP", async () => {
    const bad = await server.call("/v1/execute", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{",
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toBe("application/problem+json");
    const anon = await fetch(`${server.url}/v1/execute`, { method: "POST" });
    expect(anon.status).toBe(401);
    expect(((await anon.json()) as { status: number }).status).toBe(401);
  });

  it("carries results of any size and characters back from its runners intact", async () => {
    // A runner answers a small ASCII outcome in a header and anything else in its body.
    const cases = [
      "'x'.repeat(10)",
      "'x'.repeat(8100)",
      "'x'.repeat(8300)",
      "'x'.repeat(300000)",
      "'h\u00e9 \u2028 \ud83d\ude00 '.repeat(3)",
      "({ quote: '\"', backslash: '\\\\', nl: '\\n', tab: '\\t', ctl: '\\u0001' })",
    ];
    for (const code of cases) {
      const expected = new Function(`return (${code})`)();
      const result = await server.execute({ code, input: null });
      expect(result).toMatchObject({ status: "ok", result: expected });
    }
  });

  it("carries code and input of any size and characters to its runners intact", async () => {
    // A short printable-ASCII job travels to a runner in a header, anything else in the body.
    const inputs = ["ascii", "h\u00e9 \u2028 \ud83d\ude00", "y".repeat(9000), { n: [1, "\n\t"] }];
    for (const input of inputs) {
      const result = await server.execute({ code: "input", input });
      expect(result).toMatchObject({ status: "ok", result: input });
    }
    const long = await server.execute({ code: `${"// padding\n".repeat(1000)}"\u00e9" + 1` });
    expect(long).toMatchObject({ status: "ok", result: "\u00e91" });
  });

  it("logs one line per request", async () => {
    await server.call("/healthz");
    // Lines are written in batches, within 100 ms of their request's end.
    await expect.poll(() => server.output(), { timeout: 2000 }).toMatch(/GET \/healthz 200 \d+ms/);
    expect(server.output()).toMatch(/POST \/v1\/execute 200 \d+ms/);
  });

  it("keeps the dev key out of its own output", () => {
    expect(server.output()).not.toContain(E2E_KEY);
  });
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("stopping", () => {
  it("takes its workerd processes down with it when it is killed outright (SIGKILL)", async () => {
    const other = await startServer();
    const children = [...childrenOf(other.pid)];
    // The control plane and every runner (or the bwrap sandbox holding it).
    expect(children.filter(([, cmd]) => /workerd/.test(cmd)).length).toBeGreaterThanOrEqual(3);
    process.kill(other.pid, "SIGKILL");
    await expect
      .poll(() => children.filter(([pid]) => alive(pid)).map(([, cmd]) => cmd), { timeout: 5000 })
      .toEqual([]);
    await expect(fetch(`${other.url}/healthz`)).rejects.toThrow();
    await other.stop();
  });

  it("stops cleanly on SIGTERM", async () => {
    const other = await startServer();
    expect(await other.stop()).toBe(0);
    await expect(fetch(`${other.url}/healthz`)).rejects.toThrow();
  });

  it("prints how to set the dev key when it is unset", async () => {
    const other = await startServer({ CORDON_DEV_API_KEY: "" });
    expect(other.output()).toMatch(/CORDON_DEV_API_KEY is not set/);
    const res = await other.call("/v1/execute", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "1" }),
    });
    expect(res.status).toBe(401);
    await other.stop();
  });

  it("answers every request with what to fix when its dev tenant's configuration is invalid", async () => {
    const secrets = '{"TOKEN": {"value": "s3cr3t-value", "hosts": ["a.test"]';
    const cases: [Record<string, string>, RegExp][] = [
      [
        { CORDON_DEV_POLICY: JSON.stringify({ limits: { rate: 1e9 } }) },
        /^CORDON_DEV_POLICY is invalid: limits\.rate: /,
      ],
      [{ CORDON_DEV_SECRETS: secrets }, /^CORDON_DEV_SECRETS is not valid JSON$/],
    ];
    for (const [env, detail] of cases) {
      const other = await startServer(env);
      const res = await other.call("/v1/execute", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ code: "1" }),
      });
      expect(res.status).toBe(500);
      expect(res.headers.get("content-type")).toBe("application/problem+json");
      const problem = (await res.json()) as { type: string; detail: string };
      expect(problem.type).toMatch(/\/server-misconfigured$/);
      expect(problem.detail).toMatch(detail);
      await other.stop();
      expect(other.output()).toMatch(/configuration error: CORDON_DEV_(POLICY|SECRETS) is/);
      expect(other.output()).not.toContain("s3cr3t");
    }
  });
});
