import { describe, expect, it } from "vitest";
import { CHANNELS, channelCode } from "../channels";
import { call, run } from "./helpers";

// Code sent for the first time runs in a one-shot isolate; from the second time on it runs in a
// reused (warm) isolate that later runs of the same tenant's same code share.
const unique = () => crypto.randomUUID().slice(0, 8);

/** Runs `code` `times` times with inputs from `inputs` (cycled). */
async function runTimes(code: string, times: number, inputs: unknown[] = [null]) {
  const results = [];
  for (let i = 0; i < times; i++) {
    results.push(await run({ code, input: inputs[i % inputs.length] }));
  }
  return results;
}

describe("a reused isolate starts every execution clean", () => {
  it.each(CHANNELS.map((c) => [c.name, c] as const))(
    "a later run cannot read what an earlier one wrote through %s, and the write throws a TypeError",
    async (_name, channel) => {
      const code = `// ${unique()}\n${channelCode(channel)}`;
      const secrets = [0, 1, 2, 3].map((i) => `secret-${i}-${unique()}`);
      const results = await runTimes(code, secrets.length, secrets);
      for (const [i, r] of results.entries()) {
        expect(r.status, JSON.stringify(r.error)).toBe("ok");
        const { wrote, seen, hardened } = r.result as {
          wrote: string;
          seen: unknown;
          hardened: boolean;
        };
        expect(secrets.slice(0, i)).not.toContain(seen);
        if (i > 0) {
          expect(hardened, "the run must be in a reused isolate").toBe(true);
          expect(wrote).toBe("TypeError");
        }
      }
    },
  );

  it("gives each caller only its own value through globalThis (the lead's stash case)", async () => {
    const code = `// ${unique()}\nglobalThis.stash ??= input; globalThis.stash`;
    const results = await runTimes(code, 3, ["A", "B", "C"]);
    for (const [i, r] of results.entries()) {
      if (r.status === "ok") expect(r.result).toBe(["A", "B", "C"][i]);
      else expect(r.error?.name).toBe("TypeError");
    }
    expect(results.slice(1).map((r) => r.error?.name)).toEqual(["TypeError", "TypeError"]);
  });

  it("keeps console.count and console.time labels per execution", async () => {
    const code = `// ${unique()}\nconsole.count(input); console.count("shared"); null`;
    const results = await runTimes(code, 3, ["a", "b", "c"]);
    expect(results.map((r) => r.logs.map((l) => l.message))).toEqual([
      ["a: 1", "shared: 1"],
      ["b: 1", "shared: 1"],
      ["c: 1", "shared: 1"],
    ]);
  });

  it("makes a write to a built-in prototype fail the same way in a first and a reused isolate", async () => {
    const code = `// ${unique()}
const out = [];
for (const write of [() => { Array.prototype.last = 1 }, () => { Object.prototype.x = 1 },
  () => { String.prototype.shout = 1 }, () => { globalThis.fresh = 1 }, () => { JSON.parse = null }]) {
  try { write(); out.push("wrote") } catch (e) { out.push(e.constructor.name) }
}
out`;
    const results = await runTimes(code, 3);
    for (const r of results) expect(r.result).toEqual(Array(5).fill("TypeError"));
  });
});

describe("ordinary code in a reused isolate", () => {
  const cases: [string, string, unknown, Record<string, unknown>?][] = [
    [
      "subclasses Error and sets this.name",
      `class MyError extends Error { constructor(m) { super(m); this.name = "MyError" } }
const e = new MyError("m"); [e.name, e.message, e instanceof Error, String(e)]`,
      ["MyError", "m", true, "MyError: m"],
    ],
    [
      "overrides toString and valueOf on its own objects",
      `const o = { toString() { return "o" } }; const p = {}; p.toString = () => "p"; p.valueOf = () => 5;
[String(o), String(p), p + 1]`,
      ["o", "p", 6],
    ],
    [
      "sets F.prototype.constructor and constructor on plain objects",
      `function F() {} function G() {} G.prototype = Object.create(F.prototype); G.prototype.constructor = G;
const x = {}; x.constructor = G; [new G() instanceof F, G.prototype.constructor === G, x.constructor === G]`,
      [true, true, true],
    ],
    [
      "uses Buffer, crypto and TextEncoder",
      `const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode("a"));
[Buffer.from("hi").toString("base64"), crypto.randomUUID().length, new Uint8Array(digest)[0]]`,
      ["aGk=", 36, 202],
    ],
    [
      "uses timers",
      `let n = 0; const id = setInterval(() => n++, 1);
const v = await new Promise((r) => setTimeout(() => r("t"), 10)); clearInterval(id); [v, n > 0]`,
      ["t", true],
    ],
    [
      "reads an error's stack",
      `const e = new Error("s"); [e.stack.split("\\n")[0], /user\\.js/.test(e.stack)]`,
      ["Error: s", true],
    ],
    [
      "uses EventEmitter, path and util",
      `import { EventEmitter } from "node:events"; import path from "node:path"; import util from "node:util";
const e = new EventEmitter(); let got; e.on("x", (v) => { got = v }); e.emit("x", 7);
class Sub extends EventEmitter { constructor() { super(); this.n = 1 } }
[got, new Sub().n, path.join("a", "b"), util.format("%d", 3), util.inspect({ a: [1] })]`,
      [7, 1, "a/b", "3", "{ a: [ 1 ] }"],
    ],
    [
      "uses classes with private and static fields, getters, generators and Proxy",
      `class A { #x = 1; static s = 2; get x() { return this.#x } }
function* g() { yield 1; yield 2 }
const p = new Proxy({}, { get: (_, k) => k });
async function* ag() { yield 3 } const got = []; for await (const v of ag()) got.push(v);
[new A().x, A.s, [...g()], p.hello, got, Object.isFrozen(Object.freeze({}))]`,
      [1, 2, [1, 2], "hello", [3], true],
    ],
    [
      "has every built-in a one-shot isolate has",
      `[typeof Error.isError, typeof RegExp.escape, typeof Iterator.prototype[Symbol.dispose],
(1234.5).toLocaleString("en-US"), typeof structuredClone, typeof harden, typeof lockdown]`,
      ["function", "function", "function", "1,234.5", "function", "undefined", "undefined"],
    ],
    [
      "runs TypeScript",
      "const n: number = 2;\ninterface P { x: number }\nconst p: P = { x: n * 3 };\np.x",
      6,
      { language: "typescript" },
    ],
  ];
  it.each(cases)("%s, the same in every run", async (_name, code, expected, extra = {}) => {
    const body = { code: `// ${unique()}\n${code}`, ...extra };
    for (let i = 0; i < 3; i++) {
      const r = await run(body);
      expect(r.status, JSON.stringify(r.error)).toBe("ok");
      expect(r.result).toEqual(expected);
    }
  });

  it("in a session, uses node:fs and carried functions and classes in every run", async () => {
    const created = await call("/v1/sessions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    const { sessionId } = (await created.json()) as { sessionId: string };
    const exec = async (code: string) => {
      const res = await call(`/v1/sessions/${sessionId}/execute`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ code }),
      });
      return (await res.json()) as { status: string; result?: unknown };
    };
    await exec("function f(x) { return x + 1 }\nclass C { v() { return 2 } }");
    const code = `import fs from "node:fs";
fs.writeFileSync("/tmp/workspace/a.txt", String(f(1) + new C().v()));
fs.readFileSync("/tmp/workspace/a.txt", "utf8")`;
    for (let i = 0; i < 4; i++)
      expect(await exec(code)).toMatchObject({ status: "ok", result: "4" });
  });

  it("refuses listeners on the global object with a TypeError in a reused isolate", async () => {
    const code = `// ${unique()}
const out = [];
for (const add of [() => addEventListener("unhandledrejection", () => {}),
  () => globalThis.addEventListener("error", () => {}),
  () => EventTarget.prototype.addEventListener.call(globalThis, "x", () => {})]) {
  try { add(); out.push("added") } catch (e) { out.push(e.name) }
}
const target = new EventTarget(); let got = 0; target.addEventListener("x", () => got++);
target.dispatchEvent(new Event("x"));
[out, got]`;
    // A one-shot isolate is freed with its execution: its listeners cannot outlive it.
    const [first] = (await run({ code })).result as [string[]];
    expect(first.slice(0, 2)).toEqual(["added", "added"]);
    for (let i = 0; i < 2; i++) {
      expect((await run({ code })).result).toEqual([["TypeError", "TypeError", "TypeError"], 1]);
    }
  });

  it("formats a logged object the same way in every run", async () => {
    const code = `// ${unique()}\nconsole.log({ a: 1 }, [1, 2], "%s!", "x"); 1`;
    for (let i = 0; i < 3; i++) {
      expect((await run({ code })).logs).toEqual([
        { level: "log", message: "{ a: 1 } [ 1, 2 ] %s! x" },
      ]);
    }
  });

  it("locates a thrown error at its line and column in every run", async () => {
    const code = `// ${unique()}\nconst a = 1;\n  throw new RangeError("boom")`;
    for (let i = 0; i < 3; i++) {
      expect((await run({ code })).error).toEqual({
        name: "RangeError",
        message: "boom",
        line: 3,
        column: 9,
      });
    }
  });

  it("denies fetch and connect through the gateway in every run", async () => {
    const code = `// ${unique()}
import { connect } from "cloudflare:sockets";
const out = [];
try { await fetch("https://example.com/") } catch (e) { out.push(e.name) }
const s = connect("example.com:80"); out.push(await s.opened.then(() => "open", (e) => e.name));
out`;
    for (let i = 0; i < 3; i++) {
      const r = await run({ code });
      expect(r.result).toEqual(["TypeError", "TypeError"]);
      expect(r.egress.map((a) => a.decision)).toEqual(["denied", "denied"]);
    }
  });
});

describe("the outcome cannot be forged", () => {
  const forgeries: [string, string][] = [
    ["Array.prototype.toJSON", "Array.prototype.toJSON = () => undefined;\n[1, 2, 3]"],
    ["Object.prototype.toJSON", 'Object.prototype.toJSON = () => "forged";\n({ a: 1 })'],
    ["String.prototype.toJSON", "String.prototype.toJSON = () => 1;\n['s']"],
    ["BigInt.prototype.toJSON", "BigInt.prototype.toJSON = () => '\"}';\n[1n]"],
    [
      "an index setter on Array.prototype",
      'Object.defineProperty(Array.prototype, "0", { get() { return "forged" }, set() {} });\n[[1], new Map([[1, 2]])]',
    ],
    [
      "a replaced array iterator",
      "Array.prototype[Symbol.iterator] = function* () { yield '\"forged' };\n[new Set([1]), [2]]",
    ],
    ["Symbol.toPrimitive", '({ [Symbol.toPrimitive]() { return \'"}],"status":"ok\' } })'],
  ];
  it.each(forgeries)(
    "through %s: never a broken answer, in a first and a reused isolate",
    async (_n, code) => {
      const body = { code: `// ${unique()}\n${code}` };
      for (let i = 0; i < 3; i++) {
        const r = await run(body);
        if (r.status === "error") expect(r.error?.name).toBe("TypeError");
        else expect(r.status).toBe("ok");
      }
    },
  );

  it("answers [1,2,3] when Array.prototype.toJSON was tried, in every run", async () => {
    const code = `// ${unique()}\ntry { Array.prototype.toJSON = () => undefined } catch {}\n[1, 2, 3]`;
    for (let i = 0; i < 3; i++)
      expect(await run({ code })).toMatchObject({ status: "ok", result: [1, 2, 3] });
  });

  it("answers ResultNotSerializable for a result whose getter or Proxy trap throws", async () => {
    for (const code of [
      '({ get x() { throw new Error("nope") } })',
      'new Proxy({}, { ownKeys() { throw new Error("trap") } })',
    ]) {
      const r = await run({ code: `// ${unique()}\n${code}` });
      expect(r).toMatchObject({ status: "error", error: { name: "ResultNotSerializable" } });
    }
  });

  it("answers ResultTooLarge for a toJSON that returns a huge structure, without building it all", async () => {
    const code = `// ${unique()}
({ toJSON() { const a = []; for (let i = 0; i < 2e6; i++) a.push({ i, pad: "xxxxxxxx" }); return a } })`;
    const r = await run({ code });
    expect(r).toMatchObject({ status: "error", error: { name: "ResultTooLarge" } });
  });

  it("cuts a Proxy that answers a new object at every depth", async () => {
    const code = `// ${unique()}
const deep = () => new Proxy({}, { ownKeys: () => ["a"], getOwnPropertyDescriptor: () => ({ enumerable: true, configurable: true }), get: () => deep() });
deep()`;
    const r = await run({ code });
    expect(r.status).toBe("ok");
    expect(JSON.stringify(r.result)).toContain("[Too deep]");
  });

  it("keeps an error's name and message as text, whatever they contain", async () => {
    const r = await run({
      code: `// ${unique()}\nthrow { name: '","status":"ok', message: '"}' }`,
    });
    expect(r).toMatchObject({ status: "error", error: { name: '","status":"ok', message: '"}' } });
  });

  it("in a session: never a broken answer, and the session's variables survive", async () => {
    const created = await call("/v1/sessions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    const { sessionId } = (await created.json()) as { sessionId: string };
    const exec = async (code: string) => {
      const res = await call(`/v1/sessions/${sessionId}/execute`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ code }),
      });
      expect(res.status).toBe(200);
      return (await res.json()) as { status: string; result?: unknown; error?: { name: string } };
    };
    await exec("const kept = [1, 2];");
    for (let i = 0; i < 3; i++) {
      const r = await exec("try { Array.prototype.toJSON = () => undefined } catch {}\nkept");
      expect(r).toMatchObject({ status: "ok", result: [1, 2] });
    }
    expect(await exec("kept.length")).toMatchObject({ status: "ok", result: 2 });
  });
});

describe("waitUntil from cloudflare:workers", () => {
  it("makes the promise part of the execution: the run answers once it settles", async () => {
    const code = `// ${unique()}
import { waitUntil } from "cloudflare:workers";
waitUntil(new Promise((r) => setTimeout(r, 150)).then(() => console.log("waited")));
"answered"`;
    for (let i = 0; i < 2; i++) {
      const r = await run({ code });
      expect(r).toMatchObject({ status: "ok", result: "answered" });
      expect(r.logs).toEqual([{ level: "log", message: "waited" }]);
      expect(r.usage.wallMs).toBeGreaterThanOrEqual(150);
    }
  });

  it("ends the execution as timeout when the promise is still pending at the deadline", async () => {
    const code = `// ${unique()}
import { waitUntil } from "cloudflare:workers";
waitUntil(new Promise(() => {}));
1`;
    const r = await run({ code, timeoutMs: 300 });
    expect(r.status).toBe("timeout");
  });

  it("lets a reused isolate that timed out serve the next run as usual", async () => {
    const code = `// ${unique()}
import { waitUntil } from "cloudflare:workers";
if (input === "hang") waitUntil(new Promise(() => {}));
input`;
    for (let i = 0; i < 2; i++) expect((await run({ code, input: i })).result).toBe(i);
    expect((await run({ code, input: "hang", timeoutMs: 300 })).status).toBe("timeout");
    for (let i = 0; i < 2; i++) expect(await run({ code, input: i })).toMatchObject({ result: i });
  });

  it("offers only the guest's share of cloudflare:workers, however it is reached", async () => {
    const expected = [
      "DurableObject",
      "RpcStub",
      "RpcTarget",
      "WorkerEntrypoint",
      "env",
      "waitUntil",
    ];
    const code = `// ${unique()}
import * as statically from "cloudflare:workers";
import { createRequire } from "node:module";
const dynamic = await import("cloudflare:workers");
const name = "cloudflare:" + "workers";
[Object.keys(statically), Object.keys(dynamic), Object.keys(await import(name)),
 Object.keys(createRequire("/")(name))]`;
    for (let i = 0; i < 3; i++) {
      const r = await run({ code });
      expect(r.result).toEqual([expected, expected, expected, expected]);
    }
    const reached = `// ${unique()}\nObject.keys(process.getBuiltinModule("cloudflare:workers"))`;
    const warm = await runTimes(reached, 3);
    expect(warm.slice(1).map((r) => r.result)).toEqual([expected, expected]);
  });

  it("refuses a dynamic import of anything but a runtime built-in", async () => {
    const code = `// ${unique()}
const out = [];
for (const name of ["harness.js", "user.js", "builtins.js", "cloudflare:ai"]) {
  try { await import(name); out.push("imported") } catch (e) { out.push(e.name) }
}
out`;
    const r = await run({ code });
    expect(r.result).toEqual(["ImportError", "ImportError", "ImportError", "ImportError"]);
  });
});
