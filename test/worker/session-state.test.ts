import { abortAllDurableObjects, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ExecutionResultBody } from "../../src/schemas/execution";
import { call } from "./helpers";

type Result = ExecutionResultBody;

interface ProblemBody {
  type: string;
  status: number;
  detail: string;
}

async function problem(res: Response): Promise<ProblemBody> {
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  return (await res.json()) as ProblemBody;
}

async function createSession(init: RequestInit = {}) {
  const res = await call("/v1/sessions", { method: "POST", ...init });
  expect(res.status).toBe(201);
  return (await res.json()) as { sessionId: string; token: string; createdAt?: string };
}

function send(id: string, code: string, headers: Record<string, string> = {}) {
  return call(`/v1/sessions/${id}/execute`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ code }),
  });
}

async function exec(id: string, code: string): Promise<Result> {
  const res = await send(id, code);
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  return (await res.json()) as Result;
}

const put = (id: string, path: string, body: BodyInit = "x") =>
  call(`/v1/sessions/${id}/files/${path}`, { method: "PUT", body });

async function fileText(id: string, path: string): Promise<string> {
  const res = await call(`/v1/sessions/${id}/files/${path}`);
  expect(res.status).toBe(200);
  return new TextDecoder().decode(await res.arrayBuffer());
}

async function paths(id: string): Promise<string[]> {
  const list = (await (await call(`/v1/sessions/${id}/files`)).json()) as {
    files: { path: string }[];
  };
  return list.files.map((f) => f.path);
}

/** Code that lists every file of the workspace, so a run proves the session still hydrates. */
const LIST_WORKSPACE = `import fs from 'node:fs';
const walk = (dir, prefix) => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
  e.isDirectory() ? walk(dir + '/' + e.name, prefix + e.name + '/') : [prefix + e.name]);
walk('/tmp/workspace', '').sort()`;

describe("workspace path conflicts", () => {
  it("refuses a file under an existing file with 409, and the session keeps running", async () => {
    const { sessionId } = await createSession();
    expect((await put(sessionId, "a", "file a")).status).toBe(204);
    const nested = await put(sessionId, "a/b");
    expect(nested.status).toBe(409);
    const body = await problem(nested);
    expect(body.type).toMatch(/\/path-conflict$/);
    expect(body.detail).toContain("a");
    expect(await paths(sessionId)).toEqual(["a"]);
    const r = await exec(sessionId, LIST_WORKSPACE);
    expect(r).toMatchObject({ status: "ok", result: ["a"] });
  });

  it("refuses a file where a directory of existing files is, with 409", async () => {
    const { sessionId } = await createSession();
    expect((await put(sessionId, "dir/x/y.txt")).status).toBe(204);
    for (const path of ["dir", "dir/x"]) {
      const res = await put(sessionId, path);
      expect(res.status, path).toBe(409);
      expect((await problem(res)).type).toMatch(/\/path-conflict$/);
    }
    // A sibling whose name merely starts the same is no conflict.
    expect((await put(sessionId, "dir/x.txt")).status).toBe(204);
    expect((await put(sessionId, "di")).status).toBe(204);
    expect(await paths(sessionId)).toEqual(["di", "dir/x.txt", "dir/x/y.txt"]);
    expect((await exec(sessionId, LIST_WORKSPACE)).status).toBe("ok");
  });

  it("checks a deeply nested path like any other", async () => {
    const { sessionId } = await createSession();
    const deep = `${"d/".repeat(150)}f.txt`;
    expect((await put(sessionId, deep)).status).toBe(204);
    expect((await put(sessionId, `${"d/".repeat(100)}d`)).status).toBe(409);
    expect(await paths(sessionId)).toEqual([deep]);
  });

  it("does not save a run's files that clash with a file put meanwhile, and never bricks the session", async () => {
    const { sessionId } = await createSession();
    const running = exec(
      sessionId,
      "import fs from 'node:fs';\nawait new Promise((r) => setTimeout(r, 600));\nfs.mkdirSync('/tmp/workspace/a');\nfs.writeFileSync('/tmp/workspace/a/b', 'from the run');\nconst kept = 1;",
    );
    await new Promise((r) => setTimeout(r, 200));
    // The run has its turn; the files API does not wait for it.
    expect((await put(sessionId, "a", "from the API")).status).toBe(204);
    const r = await running;
    expect(r.status).toBe("ok");
    expect(r.logs).toContainEqual({
      level: "warn",
      message: expect.stringMatching(/^workspace changes not saved: .*a\/b.*a/),
    });
    expect(await paths(sessionId)).toEqual(["a"]);
    const next = await exec(sessionId, `${LIST_WORKSPACE}.concat(kept)`);
    expect(next).toMatchObject({ status: "ok", result: ["a", 1] });
  });
});

describe("session file count cap", () => {
  it("holds at most 1,000 files: the files API answers 413 and a run's extra files are not saved", async () => {
    const { sessionId } = await createSession();
    const filled = await exec(
      sessionId,
      "import fs from 'node:fs';\nfs.mkdirSync('/tmp/workspace/f');\nfor (let i = 0; i < 1000; i++) fs.writeFileSync('/tmp/workspace/f/' + i, '');",
    );
    expect(filled.status).toBe("ok");
    expect(filled.logs).toEqual([]);
    const count = async () =>
      ((await (await call(`/v1/sessions/${sessionId}`)).json()) as { files: number }).files;
    expect(await count()).toBe(1000);

    const extra = await put(sessionId, "extra.txt");
    expect(extra.status).toBe(413);
    const body = await problem(extra);
    expect(body.type).toMatch(/\/too-large$/);
    expect(body.detail).toMatch(/more than 1000 files; nothing was stored/);
    // Replacing a file adds none.
    expect((await put(sessionId, "f/7", "new")).status).toBe(204);

    const over = await exec(
      sessionId,
      "import fs from 'node:fs';\nfs.writeFileSync('/tmp/workspace/one-more', 'x');\nfs.writeFileSync('/tmp/workspace/f/8', 'changed');",
    );
    expect(over.logs).toContainEqual({
      level: "warn",
      message: "workspace changes not saved: the session would hold more than 1000 files",
    });
    expect(await count()).toBe(1000);
    expect(await fileText(sessionId, "f/8")).toBe("");

    // Making room first lets the same run save.
    const room = await exec(
      sessionId,
      "import fs from 'node:fs';\nfs.rmSync('/tmp/workspace/f/9');\nfs.writeFileSync('/tmp/workspace/one-more', 'x');",
    );
    expect(room.logs).toEqual([]);
    expect(await count()).toBe(1000);
    expect(await fileText(sessionId, "one-more")).toBe("x");
  });
});

describe("session turns", () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it("refuses the commit of a run that lost its turn to a restart, keeping the newer run's state", async () => {
    const { sessionId } = await createSession();
    await exec(sessionId, "import fs from 'node:fs';\nlet who = 'first';");
    const old = exec(
      sessionId,
      "import fs from 'node:fs';\nawait new Promise((r) => setTimeout(r, 800));\nwho = 'old';\nfs.writeFileSync('/tmp/workspace/who', 'old');",
    );
    await sleep(250);
    // Every object restarts while the old run holds its turn: the turn held in memory is gone,
    // and the old run's stub is broken.
    await abortAllDurableObjects();
    const newer = await exec(
      sessionId,
      "import fs from 'node:fs';\nwho = 'new';\nfs.writeFileSync('/tmp/workspace/who', 'new');",
    );
    expect(newer.logs).toEqual([]);
    const late = await old;
    expect(late.status).toBe("ok");
    expect(late.logs).toContainEqual({
      level: "warn",
      message: expect.stringMatching(/^variables and workspace changes not saved: .*lost its turn/),
    });
    expect((await exec(sessionId, "who")).result).toBe("new");
    expect(await fileText(sessionId, "who")).toBe("new");
    // Its history entry (and egress audit) is kept: the run did happen.
    const history = (await (await call(`/v1/sessions/${sessionId}/executions`)).json()) as {
      executions: { executionId: string }[];
    };
    expect(history.executions.map((e) => e.executionId)).toContain(late.executionId);
  });

  it("still saves a run whose object restarted while no newer run took the turn", async () => {
    const { sessionId } = await createSession();
    const running = exec(
      sessionId,
      "await new Promise((r) => setTimeout(r, 600));\nconst kept = 'saved';",
    );
    await sleep(200);
    await abortAllDurableObjects();
    const r = await running;
    expect(r.logs).toEqual([]);
    expect((await exec(sessionId, "kept")).result).toBe("saved");
  });
});

describe("session expiry", () => {
  it("erases an expired session found by a request before answering 404, and the alarm after it finds nothing", async () => {
    const { sessionId } = await createSession({
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ttlSeconds: 60 }),
    });
    await exec(sessionId, "const kept = 1;");
    expect((await put(sessionId, "f.txt", "data")).status).toBe(204);
    const stub = env.SESSION.getByName(`dev:${sessionId}`);
    const rows = () =>
      runInDurableObject(stub, (_instance, state) =>
        ["meta", "variables", "files", "file_chunks", "executions"].map(
          (table) => state.storage.sql.exec(`SELECT COUNT(*) AS n FROM ${table}`).one().n,
        ),
      );
    await runInDurableObject(stub, (_instance, state) => {
      state.storage.sql.exec("UPDATE meta SET expires_at = ?", Date.now() - 1);
    });
    const [info, file] = await Promise.all([
      call(`/v1/sessions/${sessionId}`),
      call(`/v1/sessions/${sessionId}/files/f.txt`),
    ]);
    expect([info.status, file.status]).toEqual([404, 404]);
    expect(await rows()).toEqual([0, 0, 0, 0, 0]);
    await runDurableObjectAlarm(stub);
    expect(await rows()).toEqual([0, 0, 0, 0, 0]);
    expect((await put(sessionId, "g.txt")).status).toBe(404);
  });
});

describe("session tokens", () => {
  const withToken = (id: string, token: string) =>
    call(`/v1/sessions/${id}`, { headers: { authorization: `Bearer ${token}` } });

  it("expire at the session's 24-hour maximum lifetime, counted from its creation", async () => {
    const { sessionId, token } = await createSession();
    const info = (await (await call(`/v1/sessions/${sessionId}`)).json()) as { createdAt: string };
    const payload = token.slice("cst_".length).split(".")[0] ?? "";
    const claims = JSON.parse(atob(payload.replace(/-/g, "+").replace(/_/g, "/"))) as {
      exp: number;
    };
    expect(claims.exp).toBe(Date.parse(info.createdAt) + 24 * 60 * 60 * 1000);
  });

  it("are refused unless spelled exactly cst_<payload>.<mac>, in canonical base64url", async () => {
    const { sessionId, token } = await createSession();
    expect((await withToken(sessionId, token)).status).toBe(200);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const last = token.at(-1) ?? "A";
    // The mac's last character carries two bits that must be zero: its sibling decodes the same.
    const sibling = alphabet[alphabet.indexOf(last) ^ 1] ?? "A";
    const variants = {
      "an extra segment": `${token}.extra`,
      "an empty extra segment": `${token}.`,
      padding: `${token}=`,
      "non-canonical last character": `${token.slice(0, -1)}${sibling}`,
      "the standard alphabet": `cst_${token.slice(4).replace(/-/g, "+").replace(/_/g, "/")}`,
    };
    for (const [what, variant] of Object.entries(variants)) {
      if (variant === token) continue;
      const res = await withToken(sessionId, variant);
      expect(res.status, what).toBe(401);
      expect((await problem(res)).type).toMatch(/\/unauthorized$/);
    }
  });
});
