import { createHash, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CHANNELS, channelCode } from "../channels";
import { neighbourRun } from "./neighbour";
import { type ExecutionResult, type Server, startServer } from "./server";

// Code sent again runs in a reused (warm) isolate: these tests check that one execution there
// leaves nothing for a later one, that nothing of it runs after its answer, and that it cannot
// forge its outcome, while a neighbour tenant's runs carry on unharmed.
const ADMIN = "e2e-admin-token-0123456789";
const TIMEOUT_MS = 2000;
/** A backtracking regular expression that blocks its runner for seconds on this input. */
const EVIL = '/(a+)+$/.test("a".repeat(29) + "b")';

let server: Server;
let neighbourKey = "";
let baselineMs = 0;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const admin = (path: string) =>
  server.call(path, { headers: { authorization: `Bearer ${ADMIN}` } });
/** Code no other test sends, so its first run is in a fresh isolate. */
const fresh = (code: string) => `// ${randomUUID()}\n${code}`;
/** The hash incidents and the quarantine know code by (src/incidents/index.ts). */
const codeHash = (code: string) => createHash("sha256").update(`javascript\n${code}`).digest("hex");

const neighbour = () => neighbourRun(server, neighbourKey);

/** Runs the neighbour every 100 ms until `done` settles and a little after. */
async function neighbourThroughout(done: Promise<unknown>, afterMs = 1500) {
  let finished = false;
  // Only flips the flag; `done` is awaited by the caller.
  void done.finally(() => {
    finished = true;
  });
  const runs = [];
  while (!finished) {
    runs.push(await neighbour());
    await sleep(100);
  }
  const until = Date.now() + afterMs;
  while (Date.now() < until) {
    runs.push(await neighbour());
    await sleep(100);
  }
  return runs;
}

function expectUnharmed(runs: { ms: number; result: ExecutionResult }[]) {
  expect(runs.length).toBeGreaterThan(0);
  for (const run of runs) {
    expect(run.result, JSON.stringify(run.result.error)).toMatchObject({
      status: "ok",
      result: 42,
    });
    expect(run.ms - baselineMs).toBeLessThan(1000);
  }
}

/** Runs `code` now and then, for `ms`; answers each run's time and HTTP status. */
async function followUps(code: string, input: unknown, ms: number) {
  const runs: { ms: number; status: number; result?: ExecutionResult }[] = [];
  const until = Date.now() + ms;
  while (Date.now() < until) {
    const started = Date.now();
    const res = await server.call("/v1/execute", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code, input }),
    });
    const body = (await res.json()) as ExecutionResult;
    runs.push({ ms: Date.now() - started, status: res.status, result: body });
    await sleep(200);
  }
  return runs;
}

async function incidents() {
  const listed = await admin("/v1/admin/incidents");
  return ((await listed.json()) as { incidents: { tenant: string; codeHash: string }[] }).incidents;
}

beforeAll(async () => {
  server = await startServer({ CORDON_ADMIN_TOKEN: ADMIN });
  const created = await server.call("/v1/admin/tenants", {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify({ id: "neighbour", policy: { limits: { rate: 1000, burst: 1000 } } }),
  });
  expect(created.status).toBe(201);
  neighbourKey = ((await created.json()) as { apiKey: string }).apiKey;
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) samples.push((await neighbour()).ms);
  baselineMs = samples.sort((a, b) => a - b)[2] ?? 0;
}, 120_000);

afterAll(async () => {
  await server?.stop();
});

describe("a reused isolate starts every execution clean", () => {
  it("never answers one caller's secret to another (globalThis.stash ??= input.secret)", async () => {
    const code = fresh("globalThis.stash ??= input.secret; globalThis.stash");
    const secrets = ["secret-A", "secret-B", "secret-C"];
    for (const secret of secrets) {
      const r = await server.execute({ code, input: { secret } });
      if (r.status === "ok") expect(r.result).toBe(secret);
      else expect(r.error?.name).toBe("TypeError");
    }
  });

  it.each(CHANNELS.map((c) => [c.name, c] as const))(
    "a later run cannot read what an earlier one wrote through %s",
    async (_name, channel) => {
      const code = fresh(channelCode(channel));
      const secrets = [0, 1, 2, 3].map((i) => `secret-${i}-${randomUUID()}`);
      for (const [i, secret] of secrets.entries()) {
        const r = await server.execute({ code, input: secret });
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
});

describe("nothing of an execution runs after its answer", () => {
  it("waitUntil work is part of its execution: it ends that execution, and only its code is charged", async () => {
    const code = fresh(`import { waitUntil } from "cloudflare:workers";
if (input === 1) waitUntil((async () => { await scheduler.wait(300); ${EVIL} })());
input`);
    for (let i = 0; i < 3; i++)
      expect(await server.execute({ code, input: 0 })).toMatchObject({ result: 0 });
    const started = Date.now();
    const hostile = server.execute({ code, input: 1, timeoutMs: TIMEOUT_MS });
    const others = neighbourThroughout(hostile);
    const result = await hostile;
    expect(result.status).toMatch(/^(timeout|killed)$/);
    expect(Date.now() - started).toBeLessThan(TIMEOUT_MS + 1000);
    // Once it has answered, later runs of the code either run at once or are refused because
    // the code is quarantined: none of them waits behind work left over from it.
    for (const run of await followUps(code, 0, 2500)) {
      expect(run.ms - baselineMs).toBeLessThan(1000);
      if (run.status === 200) expect(run.result).toMatchObject({ status: "ok", result: 0 });
      else expect(run.status).toBe(403);
    }
    expectUnharmed(await others);
    const charged = (await incidents()).filter((x) => x.codeHash === codeHash(code));
    expect(charged.length).toBeGreaterThan(0);
    expect(charged.every((x) => x.tenant === "dev")).toBe(true);
    expect((await incidents()).some((x) => x.tenant === "neighbour")).toBe(false);
  });

  it("a timer holding a bound native call does not fire after a warm execution answered", async () => {
    const code =
      fresh(`if (input === 1) { const re = /(a+)+$/; setTimeout(re.test.bind(re, "a".repeat(29) + "b"), 300) }
input`);
    for (let i = 0; i < 3; i++)
      expect(await server.execute({ code, input: 0 })).toMatchObject({ result: 0 });
    const hostile = server.execute({ code, input: 1 });
    const others = neighbourThroughout(hostile, 2500);
    expect(await hostile).toMatchObject({ status: "ok", result: 1 });
    const later = await followUps(code, 0, 2500);
    for (const run of later) {
      expect(run.result).toMatchObject({ status: "ok", result: 0 });
      expect(run.ms - baselineMs).toBeLessThan(1000);
    }
    expectUnharmed(await others);
    expect((await incidents()).some((x) => x.codeHash === codeHash(code))).toBe(false);
  });

  it("the runtime's own waitUntil, reached in a one-shot isolate, runs nothing after the answer", async () => {
    const code = fresh(`const { waitUntil } = process.getBuiltinModule("cloudflare:workers");
waitUntil((async () => { await scheduler.wait(300); ${EVIL} })());
"answered"`);
    const hostile = server.execute({ code });
    const others = neighbourThroughout(hostile, 2500);
    expect(await hostile).toMatchObject({ status: "ok", result: "answered" });
    expectUnharmed(await others);
  });

  it("a FinalizationRegistry's callbacks never run in a later execution", async () => {
    // The registry is kept alive through a diagnostics channel subscription, which outlives the
    // execution; its callbacks would block whichever later run collects the garbage.
    const code = fresh(`import dc from "node:diagnostics_channel";
if (input === 1) {
  const re = /(a+)+$/;
  const registry = new FinalizationRegistry(re.test.bind(re, "a".repeat(26) + "b"));
  for (let i = 0; i < 40; i++) registry.register({ pad: new Array(1e4).fill(i) }, i);
  dc.subscribe("keep-" + Math.random(), () => registry);
}
let junk = [];
for (let i = 0; i < 100; i++) { junk.push(new Array(1e5).fill(i)); if (junk.length > 5) junk = []; }
input`);
    for (let i = 0; i < 3; i++)
      expect(await server.execute({ code, input: 0 })).toMatchObject({ result: 0 });
    expect(await server.execute({ code, input: 1 })).toMatchObject({ status: "ok", result: 1 });
    const done = followUps(code, 0, 3000);
    const others = neighbourThroughout(done, 0);
    for (const run of await done) {
      expect(run.result).toMatchObject({ status: "ok", result: 0 });
      expect(run.ms - baselineMs).toBeLessThan(1000);
    }
    expectUnharmed(await others);
  });
});

describe("the outcome cannot be forged", () => {
  it("Array.prototype.toJSON never turns an answer into killed, an incident or a quarantine", async () => {
    const code = fresh("Array.prototype.toJSON = () => undefined;\n[1, 2, 3]");
    for (let i = 0; i < 4; i++) {
      const r = await server.execute({ code });
      if (r.status === "ok") expect(r.result).toEqual([1, 2, 3]);
      else expect(r).toMatchObject({ status: "error", error: { name: "TypeError" } });
    }
    const created = await server.call("/v1/sessions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    const { sessionId } = (await created.json()) as { sessionId: string };
    for (let i = 0; i < 3; i++) {
      const res = await server.call(`/v1/sessions/${sessionId}/execute`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          code: "try { Array.prototype.toJSON = () => undefined } catch {}\nconst kept = [1, 2, 3];\nkept",
        }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ status: "ok", result: [1, 2, 3] });
    }
    expect((await incidents()).some((x) => x.codeHash === codeHash(code))).toBe(false);
  });
});
