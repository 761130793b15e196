import { describe, expect, it } from "vitest";
import { call, run } from "./helpers";

describe("results", () => {
  it("returns the value of the last top-level expression statement", async () => {
    const r = await run({ code: "const a = 2;\na * 21\nconst b = 3;" });
    expect(r.status).toBe("ok");
    expect(r.result).toBe(42);
  });

  it("awaits a last expression that is a promise", async () => {
    const r = await run({ code: "Promise.resolve(7)" });
    expect(r.result).toBe(7);
  });

  it("supports top-level await", async () => {
    const r = await run({
      code: "const v = await new Promise((r) => setTimeout(() => r('late'), 20));\nv",
    });
    expect(r.result).toBe("late");
  });

  it("calls a default-exported function with input and awaits it", async () => {
    const r = await run({
      code: "export default async function (x) { return x.a + x.b }\n'ignored'",
      input: { a: 1, b: 2 },
    });
    expect(r.result).toBe(3);
  });

  it("returns a default-exported value", async () => {
    const r = await run({ code: "export default { answer: 42 };" });
    expect(r.result).toEqual({ answer: 42 });
  });

  it("returns a named default export declared elsewhere", async () => {
    const r = await run({
      code: "function main(i) { return i * 2 }\nexport { main as default };",
      input: 21,
    });
    expect(r.result).toBe(42);
  });

  it("exposes the request input as the global input", async () => {
    const r = await run({ code: "input.items.length", input: { items: [1, 2, 3] } });
    expect(r.result).toBe(3);
  });

  it("answers null when there is nothing to return", async () => {
    const r = await run({ code: "const x = 1;" });
    expect(r).toMatchObject({ status: "ok", result: null });
  });

  it("keeps top-level bindings fresh for every run of the same code", async () => {
    const code = "let n = 0; n += 1; n";
    const results = [];
    for (let i = 0; i < 3; i++) results.push((await run({ code })).result);
    expect(results).toEqual([1, 1, 1]);
  });

  it("converts values JSON cannot carry by the documented rule", async () => {
    const r = await run({
      code: `const o = { self: null, u: undefined, keep: 1 }; o.self = o;
({
  undef: undefined, big: 2n ** 70n, map: new Map([["a", 1], [2, "b"]]), set: new Set([1, 2]),
  date: new Date(0), bad: new Date(NaN), nan: NaN, inf: -Infinity, fn: function named() {},
  arrow: () => 1, klass: class Foo {}, sym: Symbol("s"), re: /a+/g, cyc: o,
  arr: [undefined, 1], bytes: new Uint8Array([1, 2]), err: new RangeError("r"),
})`,
    });
    expect(r.status).toBe("ok");
    expect(r.result).toEqual({
      big: "1180591620717411303424",
      map: [
        ["a", 1],
        [2, "b"],
      ],
      set: [1, 2],
      date: "1970-01-01T00:00:00.000Z",
      bad: null,
      nan: null,
      inf: null,
      fn: "[Function: named]",
      arrow: "[Function: arrow]",
      klass: "[class Foo]",
      sym: "Symbol(s)",
      re: "/a+/g",
      cyc: { self: "[Circular]", keep: 1 },
      arr: [null, 1],
      bytes: [1, 2],
      err: { name: "RangeError", message: "r" },
    });
  });
});

describe("errors", () => {
  it("reports a thrown error with its line and column in the code as sent", async () => {
    const r = await run({ code: "const a = 1;\nconst b = 2;\n  throw new TypeError('boom');\n" });
    expect(r.status).toBe("error");
    expect(r.error).toMatchObject({ name: "TypeError", message: "boom", line: 3, column: 9 });
  });

  it("locates errors in TypeScript at the position in the TypeScript source", async () => {
    const code =
      "interface P { n: number }\nconst f = (p: P): number => {\n  const q: P = p as P; throw new RangeError(`bad ${q.n}`);\n};\nf({ n: 1 });";
    const r = await run({ code, language: "typescript" });
    expect(r.status).toBe("error");
    expect(r.error).toMatchObject({ name: "RangeError", message: "bad 1", line: 3, column: 30 });
  });

  it("answers a syntax error as status error with its position", async () => {
    const r = await run({ code: "let ok = 1;\nlet bad = ;" });
    expect(r.status).toBe("error");
    expect(r.error).toMatchObject({ name: "SyntaxError", line: 2, column: 11 });
  });

  it("answers a TypeScript syntax error as status error with its position", async () => {
    const r = await run({ code: "const x: number = 1;\nconst y: = 2;", language: "typescript" });
    expect(r.status).toBe("error");
    expect(r.error).toMatchObject({ name: "SyntaxError", line: 2, column: 10 });
  });

  it("reports a thrown non-error value", async () => {
    const r = await run({ code: "throw 'plain string'" });
    expect(r).toMatchObject({ status: "error", error: { message: "plain string" } });
  });

  it("refuses imports of anything but runtime built-ins", async () => {
    const r = await run({ code: 'import x from "./harness.js";\nx' });
    expect(r.status).toBe("error");
    expect(r.error).toMatchObject({ name: "ImportError", line: 1 });
  });

  it("allows runtime built-ins to be imported", async () => {
    const r = await run({
      code: 'import { Buffer } from "node:buffer";\nBuffer.from("hi").toString("hex")',
    });
    expect(r.result).toBe("6869");
  });

  it("gives one-shot code that uses node:fs an empty /tmp/workspace, however it loads it", async () => {
    const ways = [
      "import fs from 'node:fs';\nfs.readdirSync('/tmp/workspace')",
      "const { readdirSync } = await import('node:fs');\nreaddirSync('/tmp/workspace')",
      "process.getBuiltinModule('node:fs').readdirSync('/tmp/workspace')",
    ];
    for (const code of ways)
      expect(await run({ code })).toMatchObject({ status: "ok", result: [] });
  });

  it("formats console arguments as util.format does (printf-style and inspected objects)", async () => {
    const r = await run({ code: "console.log('%s has %d', 'list', 2, { a: [1] });\n1" });
    expect(r.logs).toEqual([{ level: "log", message: "list has 2 { a: [ 1 ] }" }]);
  });

  it("rejects a result over the cap as ResultTooLarge", async () => {
    const r = await run({ code: "'x'.repeat(1024 * 1024 + 1)" });
    expect(r.status).toBe("error");
    expect(r.error?.name).toBe("ResultTooLarge");
  });
});

describe("the guest runtime", () => {
  it("formats every console call exactly as node:util's format would", async () => {
    // Plain values are joined by the harness itself; the rest goes through node:util. Both paths
    // must give what util.format gives for the same arguments.
    const cases = [
      "[]",
      "['a', 'b c']",
      "[1, -0, 0, 1.5e300, NaN, -Infinity, 10n, -3n]",
      "[true, false, null, undefined]",
      "['x', 1, 'y']",
      "[2, 'two', null]",
      "['100%']",
      "['%s=%d', 'n', 3]",
      "['a', '%s', 'b']",
      "['%%', 1]",
      "[{ a: [1] }, 'after']",
      "['before', [1, 2], -0]",
      "[Symbol('s'), 'x']",
      "['multi\\nline', '']",
    ];
    const code = `import { format } from "node:util";
const cases = [${cases.join(", ")}];
for (const args of cases) console.log(...args);
cases.map((args) => format(...args))`;
    const r = await run({ code });
    expect(r.status).toBe("ok");
    expect(r.result).toHaveLength(cases.length);
    expect(r.logs?.map((entry) => entry.message)).toEqual(r.result);
    expect(r.logs?.[2]?.message).toBe("1 -0 0 1.5e+300 NaN -Infinity 10n -3n");
  });

  it("gives code that uses timers Node.js timers, however it loads them", async () => {
    const check = `const t = setTimeout(() => {}, 1);
let ticks = 0;
await new Promise((done) => {
  const i = setInterval(() => { if (++ticks === 3) { clearInterval(i); done(); } }, 2);
});
let fired = false;
const cancelled = setTimeout(() => { fired = true; }, 2);
clearTimeout(cancelled);
await new Promise((done) => setTimeout(done, 10));
[typeof t, t.unref() === t, t.hasRef(), typeof t.refresh, ticks, fired]`;
    const expected = ["object", true, false, "function", 3, false];
    const ways = [
      check,
      `import { setTimeout as imported } from "node:timers";
console.log(imported === setTimeout);
${check}`,
      `const timers = await import("node:timers");
console.log(timers.setTimeout === setTimeout);
${check}`,
      `const { setTimeout: later } = await import("node:timers/promises");
await later(1);
${check}`,
    ];
    for (const code of ways) {
      const r = await run({ code });
      expect(r).toMatchObject({ status: "ok", result: expected });
      for (const entry of r.logs ?? []) expect(entry.message).toBe("true");
    }
  });

  it("gives Node.js timers to code that reaches them through the global object", async () => {
    const r = await run({
      code: 'const t = globalThis["set" + "Timeout"](() => {}, 1);\ntypeof t.unref',
    });
    expect(r.result).toBe("function");
  });

  it("times out and keeps the logs of code that names no timer", async () => {
    const r = await run({
      code: "console.log('waiting');\nawait new Promise(() => {});",
      timeoutMs: 200,
    });
    expect(r.status).toBe("timeout");
    expect(r.logs).toEqual([{ level: "log", message: "waiting" }]);
  });

  it("gives code a process object when the tenant has no secrets", async () => {
    const r = await run({
      code: "[typeof process.env, process.env.NOT_SET, typeof process.nextTick]",
    });
    expect(r.result).toEqual(["object", null, "function"]);
  });
});

describe("timeouts", () => {
  it("ends an execution that awaits past its deadline as timeout", async () => {
    const r = await run({
      code: "console.log('before'); await new Promise((r) => setTimeout(r, 5000));",
      timeoutMs: 200,
    });
    expect(r.status).toBe("timeout");
    expect(r.logs).toEqual([{ level: "log", message: "before" }]);
    expect(r.usage.wallMs).toBeLessThan(2000);
  });

  it("ends an execution whose timers keep it busy as timeout", async () => {
    const r = await run({
      code: "setInterval(() => {}, 1); await new Promise(() => {});",
      timeoutMs: 150,
    });
    expect(r.status).toBe("timeout");
  });
});

describe("console", () => {
  it("captures console output in order with levels", async () => {
    const r = await run({
      code: "console.log('a', 1, {b: 2}); console.info('i'); console.warn('w'); console.error('e'); console.debug('d'); 0",
    });
    expect(r.logs).toEqual([
      { level: "log", message: "a 1 { b: 2 }" },
      { level: "info", message: "i" },
      { level: "warn", message: "w" },
      { level: "error", message: "e" },
      { level: "debug", message: "d" },
    ]);
  });

  it("keeps logs written before an error", async () => {
    const r = await run({ code: "console.log('step 1');\nthrow new Error('boom')" });
    expect(r.status).toBe("error");
    expect(r.logs).toEqual([{ level: "log", message: "step 1" }]);
  });

  it("caps logs at 1000 lines and ends them with one truncation marker", async () => {
    const r = await run({ code: "for (let i = 0; i < 1500; i++) console.log(i)" });
    expect(r.logs).toHaveLength(1001);
    expect(r.logs[999]).toEqual({ level: "log", message: "999" });
    expect(r.logs[1000]).toMatchObject({ level: "warn", truncated: true });
    expect(r.logs[1000]?.message).toMatch(/500 more lines truncated$/);
  });

  it("caps logs at 256 KiB", async () => {
    const r = await run({ code: "for (let i = 0; i < 10; i++) console.log('y'.repeat(100000))" });
    const bytes = r.logs.filter((l) => !l.truncated).reduce((n, l) => n + l.message.length, 0);
    expect(bytes).toBe(256 * 1024);
    expect(r.logs.at(-1)).toMatchObject({ truncated: true });
  });
});

describe("isolation", () => {
  it("denies fetch with a TypeError that says egress is not allowed, and audits it", async () => {
    const r = await run({
      code: "let seen;\ntry { await fetch('https://example.com/x') } catch (e) { seen = [e.name, e.message] }\nseen",
    });
    expect(r.status).toBe("ok");
    expect(r.result).toEqual([
      "TypeError",
      expect.stringMatching(/egress is not allowed.*example\.com/),
    ]);
    expect(r.egress).toEqual([
      expect.objectContaining({ method: "GET", url: "https://example.com/x", decision: "denied" }),
    ]);
  });

  it("gives the guest an env with nothing of the parent and no host secrets", async () => {
    const r = await run({
      code: `import { env } from "cloudflare:workers";
({ env: Object.keys(env), proc: Object.keys(process.env), loader: typeof globalThis.LOADER })`,
    });
    expect(r.result).toEqual({ env: [], proc: [], loader: "undefined" });
  });

  it("forbids eval and new Function", async () => {
    const r = await run({
      code: "const out = []; try { eval('1') } catch (e) { out.push(e.name) }\ntry { new Function('return 1') } catch (e) { out.push(e.name) }\nout",
    });
    expect(r.result).toEqual(["EvalError", "EvalError"]);
  });
});

describe("tampering with globals", () => {
  it("cannot fake a status by overwriting JSON, console and Promise.prototype.then", async () => {
    const r = await run({
      // Each write throws a TypeError now that built-ins are frozen; the harness must not care.
      code: `const tampering = [
  () => { JSON.stringify = () => '{"status":"ok","result":"forged"}' },
  () => { JSON.parse = () => ({ status: "ok" }) },
  () => { Promise.prototype.then = function () { return "forged" } },
  () => { console.log = () => {} },
];
for (const tamper of tampering) try { tamper() } catch {}
throw new Error("real failure")`,
    });
    expect(r.status).toBe("error");
    expect(r.error?.message).toBe("real failure");
  });

  it("cannot inject log entries through Object.prototype or Array.prototype", async () => {
    const r = await run({
      code: `const tampering = [
  () => Object.defineProperty(Object.prototype, "level", { get() { return "error" }, set() {} }),
  () => { Object.prototype.toJSON = function () { return { forged: true } } },
  () => { Array.prototype.push = function () { return 0 } },
];
for (const tamper of tampering) try { tamper() } catch {}
console.log("honest"); 1`,
    });
    expect(r.logs).toEqual([{ level: "log", message: "honest" }]);
  });
});

describe("request errors", () => {
  const post = (
    body: string,
    headers: Record<string, string> = { "content-type": "application/json" },
  ) => call("/v1/execute", { method: "POST", headers, body });

  it("answers 400 problem+json with field errors for a bad body", async () => {
    const res = await post(JSON.stringify({ code: 1, language: "cobol" }));
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    const body = (await res.json()) as { errors: { path: string }[]; status: number };
    expect(body.status).toBe(400);
    expect(body.errors.map((e) => e.path).sort()).toEqual(["code", "language"]);
  });

  it("answers 400 for malformed JSON", async () => {
    const res = await post("{ not json");
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
  });

  it("answers 415 for a body that is not JSON", async () => {
    const res = await post("code=1", { "content-type": "application/x-www-form-urlencoded" });
    expect(res.status).toBe(415);
  });

  it("answers 413 for code over 1 MiB", async () => {
    const res = await post(JSON.stringify({ code: `//${"x".repeat(1024 * 1024)}` }));
    expect(res.status).toBe(413);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
  });

  it("answers 413 for input over 1 MiB", async () => {
    const res = await post(JSON.stringify({ code: "1", input: "x".repeat(1024 * 1024) }));
    expect(res.status).toBe(413);
  });

  it("answers 401 without a valid key", async () => {
    const res = await call("/v1/execute", {
      method: "POST",
      headers: { authorization: "Bearer wrong", "content-type": "application/json" },
      body: "{}",
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
  });

  it("answers 404 and 405 as problems", async () => {
    const missing = await call("/v1/nothing");
    expect(missing.status).toBe(404);
    expect(missing.headers.get("content-type")).toBe("application/problem+json");
    const wrong = await call("/v1/execute", { method: "GET" });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get("allow")).toBe("POST");
  });

  it("rejects a timeout above 300 s", async () => {
    const res = await post(JSON.stringify({ code: "1", timeoutMs: 300_001 }));
    expect(res.status).toBe(400);
  });
});

describe("service routes", () => {
  it("answers /healthz without auth", async () => {
    const res = await call("/healthz", { headers: { authorization: "" } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ ok: true });
  });

  it("serves an OpenAPI 3.1 document listing /v1/execute", async () => {
    const res = await call("/openapi.json", { headers: { authorization: "" } });
    const doc = (await res.json()) as { openapi: string; paths: Record<string, unknown> };
    expect(doc.openapi).toBe("3.1.0");
    expect(Object.keys(doc.paths)).toContain("/v1/execute");
  });
});

describe("code that never yields", () => {
  it.each([
    ["an endless synchronous loop", "while (true) {}"],
    [
      "an endless loop that swallows errors",
      "for (;;) { try { while (true) {} } catch { } finally { } }",
    ],
    ["endless recursion through catch", "function f() { try { f() } catch { f() } }\nf()"],
    ["an endless async loop", "for (;;) await null"],
    [
      "a microtask flood",
      "const f = () => Promise.resolve().then(f); f(); await new Promise(() => {})",
    ],
  ])("stops %s at its deadline as timeout", async (_name, code) => {
    const r = await run({ code, timeoutMs: 300 });
    expect(r.status).toBe("timeout");
    expect(r.usage.wallMs).toBeLessThan(1300);
  });

  it("refuses code that uses the sandbox's reserved identifiers", async () => {
    const r = await run({ code: "const __cordon$t = () => {};\nwhile (true) {}" });
    expect(r.status).toBe("error");
    expect(r.error).toMatchObject({ name: "SyntaxError", line: 1, column: 7 });
  });

  it("keeps columns right on lines the deadline checks were added to", async () => {
    const r = await run({ code: "for (let i = 0; i < 2; i++) { if (i) throw new Error('x') }" });
    expect(r.error).toMatchObject({ line: 1, column: 44 });
  });
});
