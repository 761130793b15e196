import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Session } from "../../durable-objects/session";
import type { ExecutionResultBody } from "../../src/schemas/execution";
import { call, run } from "./helpers";

async function createSession() {
  const res = await call("/v1/sessions", { method: "POST" });
  expect(res.status).toBe(201);
  return (await res.json()) as { sessionId: string; token: string };
}

async function exec(id: string, body: Record<string, unknown>, auth?: string) {
  const res = await call(`/v1/sessions/${id}/execute`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(auth ? { authorization: `Bearer ${auth}` } : {}),
    },
    body: JSON.stringify(body),
  });
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  return (await res.json()) as ExecutionResultBody;
}

/**
 * A "name" that is valid code both where a carried value is declared (`let NAME = …`) and where
 * the bindings are read back (`{"NAME": () => NAME}`): it writes the run's input into the
 * workspace, where the token holder can read it, and replaces Math.max.
 */
const INJECTED =
  'a = (globalThis.process.getBuiltinModule("node:fs").writeFileSync("/tmp/workspace/leak.json", JSON.stringify(input)), Math.max = () => "pwned", 1), b';

const SECRET_INPUT = { apiKeyHoldersSecret: "s3cret-input" };

/** The key holder's run after the token holder's: its answer, and what the token holder sees. */
async function keyHolderThenTokenHolder(sessionId: string, token: string) {
  const keyHolder = await exec(sessionId, { code: "[Math.max(1, 2), input]", input: SECRET_INPUT });
  const peek = await exec(
    sessionId,
    {
      code: 'import fs from "node:fs";\nfs.existsSync("/tmp/workspace/leak.json") ? fs.readFileSync("/tmp/workspace/leak.json", "utf8") : "nothing"',
    },
    token,
  );
  return { keyHolder, peek };
}

describe("a session variable's name is never code", () => {
  it("the code reaches nothing of the wrapper it runs in: no arguments, no this, no frames' functions or receivers", async () => {
    const r = await run({
      code: `const seen = {};
try { seen.arguments = arguments.length; } catch (e) { seen.arguments = e.name; }
seen.this = typeof this;
try {
  Error.prepareStackTrace = (_, frames) => frames.map((f) => [typeof f.getThis(), typeof f.getFunction()]);
  seen.frames = [...new Set(new Error().stack.map(String))];
} catch (e) { seen.frames = e.name; }
seen.caller = (() => { try { return typeof (function () {}).caller; } catch (e) { return e.name; } })();
seen`,
    });
    expect(r).toMatchObject({
      status: "ok",
      result: {
        arguments: "ReferenceError",
        this: "undefined",
        // Built-ins are sealed: V8's stack-trace hook cannot even be installed.
        frames: "TypeError",
        caller: "TypeError",
      },
    });
  });

  it("a run that forges its variables through the wrapper's arguments runs nothing in the next execution", async () => {
    const { sessionId, token } = await createSession();
    await exec(
      sessionId,
      {
        code: `const slots = arguments[0];\nslots.v = { ...slots.v, ${JSON.stringify(INJECTED)}: () => 1 };\n"forged"`,
      },
      token,
    );
    const { keyHolder, peek } = await keyHolderThenTokenHolder(sessionId, token);
    expect(keyHolder).toMatchObject({ status: "ok", result: [2, SECRET_INPUT] });
    expect(peek).toMatchObject({ status: "ok", result: "nothing" });
  });

  it("a stored variable whose name is code (a row written before names were checked) is dropped with a warning, never run", async () => {
    const { sessionId, token } = await createSession();
    await exec(sessionId, { code: "const kept = 41;" });
    const stub = env.SESSION.getByName(`dev:${sessionId}`);
    await runInDurableObject(stub, (_instance: Session, state) => {
      state.storage.sql.exec(
        "INSERT INTO variables (name, position, carried, value) VALUES (?, ?, ?, ?)",
        INJECTED,
        1,
        JSON.stringify({ name: INJECTED, how: "value", kind: "let" }),
        JSON.stringify([0, [["p", 1]]]),
      );
      state.storage.sql.exec(
        "INSERT INTO variables (name, position, carried, value) VALUES (?, ?, ?, ?)",
        "k",
        2,
        JSON.stringify({
          name: "k",
          how: "value",
          kind: "let = 1; Math.max = () => 'pwned'; let z",
        }),
        JSON.stringify([0, [["p", 1]]]),
      );
      state.storage.sql.exec(
        "INSERT INTO variables (name, position, carried, value) VALUES (?, ?, ?, ?)",
        "broken",
        4,
        "null",
        null,
      );
      state.storage.sql.exec(
        "INSERT INTO variables (name, position, carried, value) VALUES (?, ?, ?, ?)",
        "f",
        3,
        JSON.stringify({
          name: "f",
          how: "source",
          source: "function f() {}\nMath.max = () => 'pwned';",
        }),
        null,
      );
    });
    const { keyHolder, peek } = await keyHolderThenTokenHolder(sessionId, token);
    expect(keyHolder).toMatchObject({ status: "ok", result: [2, SECRET_INPUT] });
    const warning = keyHolder.logs.find((entry) => entry.level === "warn")?.message;
    expect(warning).toContain('"a = (globalThis.process.getBuiltinModule(\\"node:fs\\")');
    expect(warning).toContain("k (not a value kind)");
    expect(warning).toContain("f (its source is not one declaration of it)");
    expect(peek).toMatchObject({ status: "ok", result: "nothing", logs: [] });
    expect((await exec(sessionId, { code: "kept + 1" })).result).toBe(42);
    const info = await (await call(`/v1/sessions/${sessionId}`)).json();
    expect(info).toMatchObject({ variables: ["kept"] });
  });

  it("a top-level `input` is not carried: the next execution gets its own input", async () => {
    const { sessionId, token } = await createSession();
    const declared = await exec(sessionId, { code: 'var input = "forged";' }, token);
    expect(declared.logs).toContainEqual({
      level: "warn",
      message: expect.stringMatching(/not carried to the next execution: input \(/),
    });
    const next = await exec(sessionId, { code: "input", input: SECRET_INPUT });
    expect(next).toMatchObject({ status: "ok", result: SECRET_INPUT });
  });
});

describe("how much a session carries", () => {
  it("carries at most 1 MiB of code and names: past that the oldest bindings go, named in a warning", async () => {
    const { sessionId } = await createSession();
    const big = (name: string) =>
      `function ${name}() { return "${"x".repeat(600 * 1024)}".length }`;
    await exec(sessionId, { code: `${big("first")}\nconst small = 1;` });
    const second = await exec(sessionId, { code: big("second") });
    expect(second.logs).toContainEqual({
      level: "warn",
      message: expect.stringContaining("first (a session carries at most 1 MiB of code and names"),
    });
    const r = await exec(sessionId, { code: "[typeof first, second(), small]" });
    expect(r).toMatchObject({ status: "ok", result: ["undefined", 600 * 1024, 1] });
  });
});
