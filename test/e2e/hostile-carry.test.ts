// A session-token holder cannot make the API-key holder's next execution run code of its choosing
// through the session's variables, over the self-hosted runtime (runner processes), with code
// small enough to compile on the control plane and large enough to compile on the runner.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExecutionResult, type Server, startServer } from "./server";

let server: Server;

beforeAll(async () => {
  server = await startServer();
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

async function exec(sessionId: string, body: Record<string, unknown>, token?: string) {
  const res = await server.call(`/v1/sessions/${sessionId}/execute`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as ExecutionResult;
}

/** Valid code both as `let NAME = …` and as `{"NAME": () => NAME}`: leaks the input, replaces Math.max. */
const INJECTED =
  'a = (globalThis.process.getBuiltinModule("node:fs").writeFileSync("/tmp/workspace/leak.json", JSON.stringify(input)), Math.max = () => "pwned", 1), b';
const SECRET = { apiKeyHoldersSecret: "s3cret-input" };
const LARGE = "// filler that makes the code large enough to be compiled by the runner\n".repeat(
  1000,
);

describe.each([
  ["compiled on the control plane", ""],
  ["compiled on the runner", LARGE],
])("a forged session variable (%s)", (_, filler) => {
  it("runs nothing in the next execution, which keeps its input to itself", async () => {
    const created = await server.call("/v1/sessions", { method: "POST" });
    const { sessionId, token } = (await created.json()) as { sessionId: string; token: string };
    const forged = await exec(
      sessionId,
      {
        code: `${filler}const kept = 41;\nconst slots = arguments[0];\nslots.v = { ...slots.v, ${JSON.stringify(INJECTED)}: () => 1 };`,
      },
      token,
    );
    expect(forged.status).toBe("error");
    const keyHolder = await exec(sessionId, {
      code: `${filler}[Math.max(1, 2), input]`,
      input: SECRET,
    });
    expect(keyHolder).toMatchObject({ status: "ok", result: [2, SECRET] });
    const peek = await exec(
      sessionId,
      {
        code: `${filler}import fs from "node:fs";\n[fs.existsSync("/tmp/workspace/leak.json"), typeof kept === "number" ? kept + 1 : "none"]`,
      },
      token,
    );
    // What the forging run declared before it threw is kept, as in a REPL; nothing leaked.
    expect(peek).toMatchObject({ status: "ok", result: [false, 42] });
  });
});
