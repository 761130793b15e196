// npm packages in guest code over `npm start` (docs/packages.md), with CORDON_NPM_REGISTRY
// pointing at the registry fixture on loopback: imports work, versions are pinned, reported and
// kept by a session, the cache on disk serves a resolved set without the registry, and every
// package that cannot be used (refused by policy, unknown, tampered, escaping) is an execution
// error naming what and why, never a 5xx, while a neighbour tenant is timed.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Registry, startRegistry } from "./registry";
import { type ExecutionResult, type Server, startServer } from "./server";

const ADMIN = "e2e-admin-token-packages-0123";

let registry: Registry;
let server: Server;
let neighbourKey = "";
let strictKey = "";
let baselineMs = 0;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const admin = (path: string, init: RequestInit = {}) =>
  server.call(path, { ...init, headers: { authorization: `Bearer ${ADMIN}`, ...init.headers } });

async function createTenant(id: string, policy: Record<string, unknown>): Promise<string> {
  const created = await admin("/v1/admin/tenants", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ id, policy }),
  });
  expect(created.status).toBe(201);
  return ((await created.json()) as { apiKey: string }).apiKey;
}

/** Runs code as the tenant with this key (the dev tenant by default); answers status and body. */
async function executeAs(body: Record<string, unknown>, key?: string) {
  const res = await server.call("/v1/execute", {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(key ? { authorization: `Bearer ${key}` } : {}),
    },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as ExecutionResult };
}

async function neighbour(): Promise<{ ms: number; result: ExecutionResult }> {
  const started = Date.now();
  const { body } = await executeAs({ code: "input * 2", input: 21 }, neighbourKey);
  return { ms: Date.now() - started, result: body };
}

/**
 * Times the neighbour every 100 ms until `done` settles, from `fromMs` on: a run sent in the first
 * 100 ms to a runner that hostile code has just frozen shares that runner's fate (as in
 * hostile-runners.test.ts).
 */
async function watchNeighbour(done: Promise<unknown>, fromMs = 0) {
  let finished = false;
  void done.finally(() => {
    finished = true;
  });
  const answers: { ms: number; result: ExecutionResult }[] = [];
  await sleep(fromMs);
  do {
    answers.push(await neighbour());
    await sleep(100);
  } while (!finished);
  return answers;
}

function expectNeighbourUnharmed(answers: { ms: number; result: ExecutionResult }[]) {
  expect(answers.length).toBeGreaterThan(0);
  for (const answer of answers) {
    expect(answer.result).toMatchObject({ status: "ok", result: 42 });
    expect(answer.ms - baselineMs).toBeLessThan(1000);
  }
}

/** Runs `body` as the tenant with `key` while the neighbour is timed; expects an ImportError. */
async function expectImportError(
  body: Record<string, unknown>,
  message: RegExp,
  key?: string,
): Promise<ExecutionResult> {
  const run = executeAs(body, key);
  const answers = await watchNeighbour(run);
  const { status, body: result } = await run;
  expect(status).toBe(200);
  expect(result.status, JSON.stringify(result)).toBe("error");
  expect(result.error?.name).toBe("ImportError");
  expect(result.error?.message).toMatch(message);
  expectNeighbourUnharmed(answers);
  return result;
}

async function sessionRun(id: string, body: Record<string, unknown>): Promise<ExecutionResult> {
  const res = await server.call(`/v1/sessions/${id}/execute`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as ExecutionResult;
}

const versions = (result: ExecutionResult) =>
  (result.packages ?? []).map((p) => `${p.name}@${p.version}`).sort();

beforeAll(async () => {
  registry = await startRegistry();
  server = await startServer({ CORDON_ADMIN_TOKEN: ADMIN, CORDON_NPM_REGISTRY: registry.url });
  neighbourKey = await createTenant("neighbour", { limits: { rate: 1000, burst: 1000 } });
  strictKey = await createTenant("strict", {
    limits: { rate: 1000, burst: 1000 },
    packages: { allow: ["needs-evil", "@fixture/*"] },
  });
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) samples.push((await neighbour()).ms);
  baselineMs = samples.sort((a, b) => a - b)[2] ?? 0;
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await registry?.close();
});

describe("packages on npm start", () => {
  it("imports ES module, CommonJS and scoped packages (exports and imports maps), static and dynamic", async () => {
    const result = await server.execute({
      code: `import greet, { double } from "esm-pkg";
import cjs, { shout } from "cjs-pkg";
import { flavor, internal } from "@fixture/scoped";
import { feature } from "@fixture/scoped/feature/a";
const { default: addDays } = await import("date-ish/addDays");
[greet("you"), double(21), shout("hi"), cjs.thisIsExports, flavor, internal, feature, addDays(1, 2)]`,
    });
    expect(result.status, JSON.stringify(result)).toBe("ok");
    expect(result.result).toEqual(["hello you", 42, "HI!", true, "workerd", "internal", "a", 3]);
    expect(versions(result)).toEqual([
      "@fixture/scoped@2.0.0",
      "cjs-pkg@1.0.0",
      "date-ish@1.0.0",
      "esm-pkg@1.0.0",
    ]);
    for (const pkg of result.packages ?? []) expect(pkg.integrity).toMatch(/^sha512-/);
  });

  it("pins versions, reports them, and keeps two versions side by side", async () => {
    const code = 'import leaf from "leaf";\nleaf.version';
    expect((await server.execute({ code })).result).toBe("2.0.0");
    const pinned = await server.execute({ code, packages: { leaf: "^1.0.0" } });
    expect(pinned.result).toBe("1.1.0");
    expect(versions(pinned)).toEqual(["leaf@1.1.0"]);
    const exact = await server.execute({ code, packages: { leaf: "1.0.0" } });
    expect(exact.result).toBe("1.0.0");

    const both = await server.execute({
      code: `import { leafVersion as one } from "uses-leaf-1";
import two from "uses-leaf-2";
import leaf from "leaf";
[one, two.leafVersion, leaf.version]`,
      packages: { leaf: "2.0.0" },
    });
    expect(both.status, JSON.stringify(both)).toBe("ok");
    expect(both.result).toEqual(["1.1.0", "2.0.0", "2.0.0"]);
    expect(versions(both)).toEqual([
      "leaf@1.1.0",
      "leaf@2.0.0",
      "uses-leaf-1@1.0.0",
      "uses-leaf-2@1.0.0",
    ]);
  });

  it("lists transitive dependencies in the result", async () => {
    const result = await server.execute({
      code: 'import { names } from "five-deps";\nnames',
    });
    expect(result.result).toEqual(["dep-a", "dep-b", "dep-c", "dep-d", "dep-e"]);
    expect(versions(result)).toEqual([
      "dep-a@1.0.0",
      "dep-b@1.0.0",
      "dep-c@1.0.0",
      "dep-d@1.0.0",
      "dep-e@1.0.0",
      "five-deps@1.0.0",
    ]);
  });

  it("TypeScript imports packages, and createRequire's require reaches the packages the code requires", async () => {
    const ts = await server.execute({
      language: "typescript",
      code: 'import { double } from "esm-pkg";\nconst n: number = double(4);\nn',
    });
    expect(ts.status, JSON.stringify(ts)).toBe("ok");
    expect(ts.result).toBe(8);
    const required = await server.execute({
      code: `import { createRequire } from "node:module";
const require = createRequire("/user.js");
const cjs = require("cjs-pkg");
const esm = require("esm-pkg");
[cjs.shout("a"), esm.double(5), typeof require("node:path").join]`,
    });
    expect(required.status, JSON.stringify(required)).toBe("ok");
    expect(required.result).toEqual(["A!", 10, "function"]);
  });

  it("runs code that imports packages in an isolate of its own every time: nothing a run leaves in a package reaches the next", async () => {
    const code = `// ${Date.now()}
import leaf from "leaf";
const before = leaf.mark ?? "clean";
leaf.mark = "dirty";
before`;
    for (let i = 0; i < 4; i++) {
      const r = await server.execute({ code });
      expect(r.result, JSON.stringify(r)).toBe("clean");
    }
  });

  it("code compiled where it runs (over 64 KiB) is told it cannot import packages", async () => {
    const filler = `// ${"x".repeat(100)}\n`.repeat(700);
    const r = await server.execute({ code: `import x from "@fixture/scoped";\n${filler}x` });
    expect(r.status).toBe("error");
    expect(r.error).toMatchObject({
      name: "ImportError",
      message: expect.stringMatching(/over 64 KiB.*not npm packages/),
    });
  });

  it("code without packages has no packages field", async () => {
    const result = await server.execute({ code: "1 + 1" });
    expect(result.result).toBe(2);
    expect(result.packages).toBeUndefined();
  });

  it("a session keeps an import's version across runs, and across a restart without the registry", async () => {
    const created = await server.call("/v1/sessions", { method: "POST" });
    const { sessionId } = (await created.json()) as { sessionId: string };
    const first = await sessionRun(sessionId, {
      code: 'import leaf from "leaf";\nconst v = leaf.version;\nv',
      packages: { leaf: "^1.0.0" },
    });
    expect(first.result).toBe("1.1.0");
    // No pin now: latest would be 2.0.0, but the session imported 1.1.0.
    const again = await sessionRun(sessionId, { code: "[v, leaf.version]" });
    expect(again.status, JSON.stringify(again)).toBe("ok");
    expect(again.result).toEqual(["1.1.0", "1.1.0"]);
    const fresh = await sessionRun(sessionId, {
      code: 'import leaf2 from "leaf";\nleaf2.version',
    });
    expect(fresh.result).toBe("1.1.0");
    const clash = await sessionRun(sessionId, {
      code: 'import leaf3 from "leaf";\nleaf3.version',
      packages: { leaf: "^2.0.0" },
    });
    expect(clash.status).toBe("error");
    expect(clash.error).toMatchObject({
      name: "ImportError",
      message: expect.stringMatching(/leaf is 1\.1\.0 in this session.*\^2\.0\.0/),
    });

    // A restarted server has nothing in memory: the session's set and the build on disk serve it.
    await server.stop();
    server = await startServer(
      { CORDON_ADMIN_TOKEN: ADMIN, CORDON_NPM_REGISTRY: registry.url },
      server.dataDir,
    );
    registry.reset();
    const restarted = await sessionRun(sessionId, { code: "leaf.version" });
    expect(restarted.result).toBe("1.1.0");
    expect(registry.requests()).toEqual([]);
  }, 120_000);

  it("refuses a package the tenant's policy does not allow, dependencies included", async () => {
    await expectImportError(
      { code: 'import leaf from "leaf";\nleaf' },
      /package "leaf" is not allowed by the tenant's policy \(packages\.allow: "needs-evil", "@fixture\/\*"\)/,
      strictKey,
    );
    await expectImportError(
      { code: 'import evil from "needs-evil";\nevil' },
      /package "leaf" \(a dependency of needs-evil@1\.0\.0\) is not allowed by the tenant's policy/,
      strictKey,
    );
    const scoped = await executeAs(
      { code: 'import { flavor } from "@fixture/scoped";\nflavor' },
      strictKey,
    );
    expect(scoped.body.result).toBe("workerd");
  });

  it("an unknown package, a bad range, a tampered tarball and a package that escapes are ImportErrors", async () => {
    await expectImportError(
      { code: 'import x from "no-such-package";\nx' },
      /no package named "no-such-package" in the registry/,
    );
    await expectImportError(
      { code: 'import leaf from "leaf";\nleaf', packages: { leaf: ">>1" } },
      /">>1" is not a valid version range for leaf/,
    );
    await expectImportError(
      { code: 'import t from "tampered";\nt' },
      /tampered@1\.0\.0.*integrity/,
    );
    await expectImportError(
      { code: 'import * as e from "escapes";\nObject.keys(e)' },
      /escapes@1\.0\.0's index\.js imports "\.\.\/\.\.\/npm-runtime\.js": the path leaves the package/,
    );
  });

  it("package code computing an import reaches no module of the isolate but built-ins", async () => {
    const run = executeAs({
      code: `import { load } from "sneaky";
const tried = [];
for (const name of ["harness.js", "user.js", "cordon.js", "npm-runtime.js", "/npm/leaf@2.0.0/index.js"]) {
  tried.push(await load(name).then(() => name + " loaded", (e) => e.name));
}
tried.push(typeof (await load("node:path")).join);
tried`,
    });
    const answers = await watchNeighbour(run);
    const { body } = await run;
    expect(body.status, JSON.stringify(body)).toBe("ok");
    expect(body.result).toEqual([
      "ImportError",
      "ImportError",
      "ImportError",
      "ImportError",
      "ImportError",
      "function",
    ]);
    expectNeighbourUnharmed(answers);
  });

  it("a package that computes forever as it is imported ends killed within its timeout + 1 s, harming no neighbour", async () => {
    const started = Date.now();
    const run = executeAs({
      code: `// ${Date.now()}\nimport { never } from "spins";\nnever`,
      timeoutMs: 2_000,
    });
    const answers = await watchNeighbour(run, 300);
    const { status, body } = await run;
    expect(status).toBe(200);
    expect(body.status, JSON.stringify(body)).toBe("killed");
    expect(Date.now() - started).toBeLessThan(2_000 + 1_000);
    expectNeighbourUnharmed(answers);
  });

  it("a bad packages field or policy is a 400 problem", async () => {
    const bad = await server.call("/v1/execute", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code: "1", packages: { "Not A Name!": "1.0.0" } }),
    });
    expect(bad.status).toBe(400);
    expect(bad.headers.get("content-type")).toBe("application/problem+json");
    const policy = await admin("/v1/admin/tenants/strict/policy", {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ packages: { allow: ["ok", "no spaces"] } }),
    });
    expect(policy.status).toBe(400);
    expect(((await policy.json()) as { errors: { path: string }[] }).errors[0]?.path).toMatch(
      /^packages\.allow\.1/,
    );
  });

  // Last: the registry goes away for good.
  it("a registry that cannot be reached is an ImportError naming it", async () => {
    await registry.close();
    await expectImportError(
      { code: 'import m from "module-field";\nm' },
      /the registry at http:\/\/127\.0\.0\.1:\d+ could not be reached for module-field/,
    );
  });
});
