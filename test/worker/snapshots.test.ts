import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { Session } from "../../durable-objects/session";
import type { ExecutionResultBody } from "../../src/schemas/execution";
import { call } from "./helpers";
import { asTenant, createTenant } from "./tenant-helpers";

interface Created {
  sessionId: string;
  token: string;
  expiresAt: string;
}
interface Snapshot {
  snapshotId: string;
  createdAt: string;
  bytes: number;
}

function post(path: string, body: unknown, auth?: string) {
  return call(path, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(auth ? { authorization: `Bearer ${auth}` } : {}),
    },
    body: JSON.stringify(body),
  });
}

async function createSession(body: Record<string, unknown> = {}, auth?: string) {
  const res = await post("/v1/sessions", body, auth);
  if (res.status !== 201) throw new Error(`status ${res.status}: ${await res.text()}`);
  return (await res.json()) as Created;
}

async function exec(id: string, code: string, auth?: string) {
  const res = await post(`/v1/sessions/${id}/execute`, { code }, auth);
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  return (await res.json()) as ExecutionResultBody;
}

async function snapshot(id: string, auth?: string) {
  const res = await post(`/v1/sessions/${id}/snapshots`, {}, auth);
  if (res.status !== 201) throw new Error(`status ${res.status}: ${await res.text()}`);
  return (await res.json()) as Snapshot;
}

async function listSnapshots(id: string, auth?: string) {
  const res = await call(`/v1/sessions/${id}/snapshots`, {
    headers: auth ? { authorization: `Bearer ${auth}` } : {},
  });
  if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { snapshots: Snapshot[] }).snapshots;
}

async function restore(id: string, snapshotId: string, auth?: string) {
  return post(`/v1/sessions/${id}/restore`, { snapshotId }, auth);
}

async function putFile(id: string, path: string, body: BodyInit) {
  const res = await call(`/v1/sessions/${id}/files/${path}`, { method: "PUT", body });
  expect(res.status).toBe(204);
}

async function readFile(id: string, path: string) {
  return call(`/v1/sessions/${id}/files/${path}`);
}

async function expectProblem(res: Response, status: number) {
  expect(res.status, await res.clone().text()).toBe(status);
  expect(res.headers.get("content-type")).toBe("application/problem+json");
}

describe("snapshots", () => {
  it("saves variables and files and rolls the session back to them, saying so in its history", async () => {
    const { sessionId } = await createSession();
    await exec(sessionId, "let n = 1; const items = ['a'];");
    await putFile(sessionId, "notes/a.txt", "first");
    const snap = await snapshot(sessionId);
    expect(snap.snapshotId).toMatch(/^snp_[A-Za-z0-9_-]+$/);
    expect(snap.bytes).toBeGreaterThan(5);
    expect(Number.isNaN(Date.parse(snap.createdAt))).toBe(false);

    // A run that breaks the state: variables rebound, a file overwritten, another added.
    await exec(
      sessionId,
      "import fs from 'node:fs';\nn = 'broken'; items.length = 0; const extra = true;\nfs.writeFileSync('/tmp/workspace/notes/a.txt', 'overwritten'); fs.writeFileSync('/tmp/workspace/b.txt', 'new');",
    );
    const res = await restore(sessionId, snap.snapshotId);
    expect(res.status, await res.clone().text()).toBe(200);
    expect((await exec(sessionId, "[n, items, typeof extra]")).result).toEqual([
      1,
      ["a"],
      "undefined",
    ]);
    expect(await (await readFile(sessionId, "notes/a.txt")).text()).toBe("first");
    expect((await readFile(sessionId, "b.txt")).status).toBe(404);

    const history = (await (await call(`/v1/sessions/${sessionId}/executions`)).json()) as {
      executions: { restoredFrom?: string }[];
    };
    expect(history.executions.map((e) => e.restoredFrom ?? null)).toEqual([
      null,
      null,
      snap.snapshotId,
      null,
    ]);
    // The snapshot stays: a session can go back to it again.
    expect((await listSnapshots(sessionId)).map((s) => s.snapshotId)).toEqual([snap.snapshotId]);
  });

  it("lists and deletes snapshots; a deleted one cannot be restored", async () => {
    const { sessionId } = await createSession();
    const a = await snapshot(sessionId);
    const b = await snapshot(sessionId);
    expect((await listSnapshots(sessionId)).map((s) => s.snapshotId)).toEqual([
      a.snapshotId,
      b.snapshotId,
    ]);
    const del = await call(`/v1/sessions/${sessionId}/snapshots/${a.snapshotId}`, {
      method: "DELETE",
    });
    expect(del.status).toBe(204);
    expect((await listSnapshots(sessionId)).map((s) => s.snapshotId)).toEqual([b.snapshotId]);
    await expectProblem(await restore(sessionId, a.snapshotId), 404);
    await expectProblem(
      await call(`/v1/sessions/${sessionId}/snapshots/${a.snapshotId}`, { method: "DELETE" }),
      404,
    );
  });

  it("answers 400 for a malformed restore body or snapshot id", async () => {
    const { sessionId } = await createSession();
    await expectProblem(await post(`/v1/sessions/${sessionId}/restore`, {}), 400);
    await expectProblem(await restore(sessionId, "../../etc"), 400);
  });

  it("are deleted with their session", async () => {
    const { sessionId } = await createSession();
    await putFile(sessionId, "a.bin", new Uint8Array(100_000));
    await snapshot(sessionId);
    expect((await call(`/v1/sessions/${sessionId}`, { method: "DELETE" })).status).toBe(204);
    await runInDurableObject(env.SESSION.getByName(`dev:${sessionId}`), (_i: Session, state) => {
      const rows = (table: string) =>
        state.storage.sql.exec(`SELECT COUNT(*) AS n FROM ${table}`).one().n;
      for (const table of [
        "snapshots",
        "snapshot_variables",
        "snapshot_imports",
        "snapshot_files",
        "snapshot_file_chunks",
        "chunks",
      ]) {
        expect(rows(table), table).toBe(0);
      }
    });
    await expectProblem(await post(`/v1/sessions/${sessionId}/snapshots`, {}), 404);
  });
});

describe("snapshot storage", () => {
  it("keeps one copy of a file's bytes however many snapshots hold it, and frees it when none does", async () => {
    const { sessionId } = await createSession();
    await putFile(sessionId, "a.bin", new Uint8Array(3 * 1024 * 1024 + 5));
    const stub = env.SESSION.getByName(`dev:${sessionId}`);
    const stored = () =>
      runInDurableObject(stub, (_i: Session, state) =>
        state.storage.sql
          .exec("SELECT COUNT(*) AS n, SUM(length(data)) AS bytes FROM chunks")
          .one(),
      );
    const one = { n: 4, bytes: 3 * 1024 * 1024 + 5 };
    expect(await stored()).toEqual(one);
    const a = await snapshot(sessionId);
    const b = await snapshot(sessionId);
    expect(await stored()).toEqual(one);
    await putFile(sessionId, "a.bin", "new");
    expect(await stored()).toEqual({ n: 5, bytes: one.bytes + 3 });
    expect((await restore(sessionId, a.snapshotId)).status).toBe(200);
    expect(await stored()).toEqual(one);
    for (const s of [a, b]) {
      await call(`/v1/sessions/${sessionId}/snapshots/${s.snapshotId}`, { method: "DELETE" });
    }
    await call(`/v1/sessions/${sessionId}/files/a.bin`, { method: "DELETE" });
    expect(await stored()).toEqual({ n: 0, bytes: null });
  });
});

describe("snapshots and runs", () => {
  it("a snapshot taken while a run is in progress holds the state after that run", async () => {
    const { sessionId } = await createSession();
    await exec(sessionId, "let stage = 'before';");
    const running = exec(
      sessionId,
      "await new Promise((r) => setTimeout(r, 400)); stage = 'after';",
    );
    await new Promise((r) => setTimeout(r, 100));
    const snap = await snapshot(sessionId);
    expect((await running).status).toBe("ok");
    await exec(sessionId, "stage = 'later';");
    expect((await restore(sessionId, snap.snapshotId)).status).toBe(200);
    expect((await exec(sessionId, "stage")).result).toBe("after");
  });

  it("a restore racing a run waits for it, and the run's changes are what it undoes", async () => {
    const { sessionId } = await createSession();
    await exec(sessionId, "let v = 'saved';");
    const snap = await snapshot(sessionId);
    const running = exec(sessionId, "await new Promise((r) => setTimeout(r, 400)); v = 'run';");
    await new Promise((r) => setTimeout(r, 100));
    const restored = await restore(sessionId, snap.snapshotId);
    expect(restored.status).toBe(200);
    expect((await running).status).toBe("ok");
    expect((await exec(sessionId, "v")).result).toBe("saved");
    const history = (await (await call(`/v1/sessions/${sessionId}/executions`)).json()) as {
      executions: { restoredFrom?: string }[];
    };
    // The run committed first, then the restore: the restore is the later entry.
    expect(history.executions.map((e) => e.restoredFrom ?? null)).toEqual([
      null,
      null,
      snap.snapshotId,
      null,
    ]);
  });
});

describe("forks and runs", () => {
  it("a fork of the state now, asked for while a run is in progress, starts from that run's state", async () => {
    const { sessionId } = await createSession();
    await exec(sessionId, "let stage = 'before';");
    const running = exec(
      sessionId,
      "await new Promise((r) => setTimeout(r, 400)); stage = 'after';",
    );
    await new Promise((r) => setTimeout(r, 100));
    const fork = await createSession({ from: { sessionId } });
    expect((await running).status).toBe("ok");
    expect((await exec(fork.sessionId, "stage")).result).toBe("after");
    // The copy it was made from is neither listed nor kept.
    expect(await listSnapshots(sessionId)).toEqual([]);
    await runInDurableObject(env.SESSION.getByName(`dev:${sessionId}`), (_i: Session, state) => {
      expect(state.storage.sql.exec("SELECT COUNT(*) AS n FROM snapshots").one().n).toBe(0);
      expect(state.storage.sql.exec("SELECT COUNT(*) AS n FROM snapshot_variables").one().n).toBe(
        0,
      );
    });
  });
});

describe("snapshot caps", () => {
  it("answers 409 past 16 snapshots and keeps the 16", async () => {
    const { sessionId } = await createSession();
    for (let i = 0; i < 16; i++) await snapshot(sessionId);
    const over = await post(`/v1/sessions/${sessionId}/snapshots`, {});
    await expectProblem(over, 409);
    expect(((await over.json()) as { type: string }).type).toMatch(/snapshot-limit$/);
    expect(await listSnapshots(sessionId)).toHaveLength(16);
  });

  it("answers 413 past 64 MiB of snapshots and stores no part of the refused one", async () => {
    const { sessionId } = await createSession();
    await putFile(sessionId, "big.bin", new Uint8Array(9.5 * 1024 * 1024));
    for (let i = 0; i < 6; i++) await snapshot(sessionId);
    const over = await post(`/v1/sessions/${sessionId}/snapshots`, {});
    await expectProblem(over, 413);
    expect(await listSnapshots(sessionId)).toHaveLength(6);
    await runInDurableObject(env.SESSION.getByName(`dev:${sessionId}`), (_i: Session, state) => {
      const files = state.storage.sql.exec("SELECT COUNT(*) AS n FROM snapshot_files").one().n;
      expect(files).toBe(6);
    });
  });
});

describe("snapshot scoping", () => {
  it("a session token works on its own session's snapshots, never another session's", async () => {
    const mine = await createSession();
    const other = await createSession();
    await exec(other.sessionId, "const secret = 'other';");
    const theirs = await snapshot(other.sessionId);

    const own = await snapshot(mine.sessionId, mine.token);
    expect((await listSnapshots(mine.sessionId, mine.token)).map((s) => s.snapshotId)).toEqual([
      own.snapshotId,
    ]);
    expect((await restore(mine.sessionId, own.snapshotId, mine.token)).status).toBe(200);

    // The other session's snapshots, through its own routes: 404, as for a missing session.
    const auth = { authorization: `Bearer ${mine.token}` };
    await expectProblem(
      await post(`/v1/sessions/${other.sessionId}/snapshots`, {}, mine.token),
      404,
    );
    await expectProblem(
      await call(`/v1/sessions/${other.sessionId}/snapshots`, { headers: auth }),
      404,
    );
    await expectProblem(
      await call(`/v1/sessions/${other.sessionId}/snapshots/${theirs.snapshotId}`, {
        method: "DELETE",
        headers: auth,
      }),
      404,
    );
    await expectProblem(await restore(other.sessionId, theirs.snapshotId, mine.token), 404);
    // Its snapshot id, through this session's routes: no such snapshot here.
    await expectProblem(await restore(mine.sessionId, theirs.snapshotId, mine.token), 404);
    await expectProblem(
      await call(`/v1/sessions/${mine.sessionId}/snapshots/${theirs.snapshotId}`, {
        method: "DELETE",
        headers: auth,
      }),
      404,
    );
    // Forking it with this token: 404; nothing of it leaked.
    await expectProblem(
      await post("/v1/sessions", { from: { sessionId: other.sessionId } }, mine.token),
      404,
    );
    await expectProblem(
      await post(
        "/v1/sessions",
        { from: { sessionId: mine.sessionId, snapshotId: theirs.snapshotId } },
        mine.token,
      ),
      404,
    );
    expect(await listSnapshots(other.sessionId)).toHaveLength(1);
  });

  it("restoring a snapshot of another session is 404, even with the API key", async () => {
    const a = await createSession();
    const b = await createSession();
    await exec(b.sessionId, "const fromB = 1;");
    const snapB = await snapshot(b.sessionId);
    await expectProblem(await restore(a.sessionId, snapB.snapshotId), 404);
    expect((await exec(a.sessionId, "typeof fromB")).result).toBe("undefined");
  });

  it("another tenant gets 404 for a session's snapshots and cannot fork it", async () => {
    const { sessionId } = await createSession();
    await exec(sessionId, "const secret = 'dev';");
    const snap = await snapshot(sessionId);
    const other = await createTenant("snap");
    const as = (path: string, init: RequestInit = {}) => asTenant(other.apiKey, path, init);
    await expectProblem(await as(`/v1/sessions/${sessionId}/snapshots`), 404);
    await expectProblem(
      await as(`/v1/sessions/${sessionId}/snapshots`, { method: "POST", body: "{}" }),
      404,
    );
    await expectProblem(
      await as(`/v1/sessions/${sessionId}/snapshots/${snap.snapshotId}`, { method: "DELETE" }),
      404,
    );
    await expectProblem(
      await as(`/v1/sessions/${sessionId}/restore`, {
        method: "POST",
        body: JSON.stringify({ snapshotId: snap.snapshotId }),
      }),
      404,
    );
    for (const from of [{ sessionId }, { sessionId, snapshotId: snap.snapshotId }]) {
      await expectProblem(
        await as("/v1/sessions", { method: "POST", body: JSON.stringify({ from }) }),
        404,
      );
    }
    // Its own session, with the first tenant's snapshot id: no such snapshot.
    const own = (await (
      await as("/v1/sessions", { method: "POST", body: "{}" })
    ).json()) as Created;
    await expectProblem(
      await as("/v1/sessions", {
        method: "POST",
        body: JSON.stringify({ from: { sessionId: own.sessionId, snapshotId: snap.snapshotId } }),
      }),
      404,
    );
    expect(await listSnapshots(sessionId)).toHaveLength(1);
  });
});

describe("forks", () => {
  it("start from the source's current state, with their own id and token, and diverge", async () => {
    const source = await createSession();
    await exec(source.sessionId, "let count = 1; const tag = 'src';");
    await putFile(source.sessionId, "f.txt", "source");
    const fork = await createSession({ from: { sessionId: source.sessionId } });
    expect(fork.sessionId).not.toBe(source.sessionId);
    expect(fork.token).not.toBe(source.token);
    expect((await exec(fork.sessionId, "count += 1; [count, tag]", fork.token)).result).toEqual([
      2,
      "src",
    ]);
    expect((await exec(source.sessionId, "count")).result).toBe(1);
    await putFile(fork.sessionId, "f.txt", "fork");
    expect(await (await readFile(source.sessionId, "f.txt")).text()).toBe("source");
    // A fork's token reaches the fork only; the source's token does not reach the fork.
    const crossed = await call(`/v1/sessions/${fork.sessionId}`, {
      headers: { authorization: `Bearer ${source.token}` },
    });
    expect(crossed.status).toBe(404);
    // Its history starts empty: history is not part of the state.
    const info = (await (await call(`/v1/sessions/${fork.sessionId}`)).json()) as {
      executions: number;
    };
    expect(info.executions).toBe(1);
  });

  it("start from a snapshot when one is named", async () => {
    const source = await createSession();
    await exec(source.sessionId, "let step = 1;");
    const snap = await snapshot(source.sessionId);
    await exec(source.sessionId, "step = 2;");
    const fork = await createSession({
      from: { sessionId: source.sessionId, snapshotId: snap.snapshotId },
    });
    expect((await exec(fork.sessionId, "step")).result).toBe(1);
    expect((await exec(source.sessionId, "step")).result).toBe(2);
    // The fork has none of its source's snapshots.
    expect(await listSnapshots(fork.sessionId)).toEqual([]);
  });

  it("ten branches from one state never see one another's variables or files", async () => {
    const source = await createSession();
    await exec(source.sessionId, "const base = 100; let mine = 'none';");
    await putFile(source.sessionId, "shared.txt", "base");
    const snap = await snapshot(source.sessionId);
    const forks = await Promise.all(
      Array.from({ length: 10 }, () =>
        createSession({ from: { sessionId: source.sessionId, snapshotId: snap.snapshotId } }),
      ),
    );
    await Promise.all(
      forks.map((f, i) =>
        exec(
          f.sessionId,
          `import fs from 'node:fs';\nmine = ${i}; const only${i} = true;\nfs.writeFileSync('/tmp/workspace/branch-${i}.txt', '${i}'); fs.writeFileSync('/tmp/workspace/shared.txt', 'b${i}');`,
        ),
      ),
    );
    for (const [i, f] of forks.entries()) {
      const seen = await exec(
        f.sessionId,
        "import fs from 'node:fs';\n[base, mine, Object.keys(globalThis).filter((k) => k.startsWith('only')), fs.readdirSync('/tmp/workspace').sort(), fs.readFileSync('/tmp/workspace/shared.txt', 'utf8')]",
      );
      expect(seen.result).toEqual([100, i, [], [`branch-${i}.txt`, "shared.txt"], `b${i}`]);
      const own = await exec(f.sessionId, `typeof only${i}`);
      expect(own.result).toBe("boolean");
      for (const j of [0, 9].filter((j) => j !== i)) {
        expect((await exec(f.sessionId, `typeof only${j}`)).result).toBe("undefined");
      }
    }
    expect((await exec(source.sessionId, "mine")).result).toBe("none");
  });

  it("keep their source's egress narrowing", async () => {
    const tenant = await createTenant("forkegress", {
      egress: { allow: ["api.example.com", "other.example.com"] },
    });
    const as = (path: string, body: unknown) =>
      asTenant(tenant.apiKey, path, { method: "POST", body: JSON.stringify(body) });
    const source = (await (
      await as("/v1/sessions", { egress: { allow: ["other.example.com"] } })
    ).json()) as Created;
    const forked = await as("/v1/sessions", { from: { sessionId: source.sessionId } });
    expect(forked.status).toBe(201);
    const fork = (await forked.json()) as Created;
    const res = await as(`/v1/sessions/${fork.sessionId}/execute`, {
      code: "try { await fetch('https://api.example.com/'); 'sent' } catch (e) { e.message }",
    });
    expect(((await res.json()) as ExecutionResultBody).result).toEqual(
      expect.stringContaining("no rule allows api.example.com"),
    );
  });

  it("copy 10 MiB of files across objects", async () => {
    const source = await createSession();
    const big = new Uint8Array(10 * 1024 * 1024 - 10);
    for (let i = 0; i < big.length; i += 4096) big[i] = (i / 4096) % 251;
    await putFile(source.sessionId, "big.bin", big);
    const fork = await createSession({ from: { sessionId: source.sessionId } });
    const copied = new Uint8Array(await (await readFile(fork.sessionId, "big.bin")).arrayBuffer());
    expect(copied.byteLength).toBe(big.byteLength);
    expect(copied.every((b, i) => b === big[i])).toBe(true);
  });

  it("with a session token: only of its own session, answered the fork's token", async () => {
    const source = await createSession();
    await exec(source.sessionId, "const v = 'tok';");
    const fork = await createSession({ from: { sessionId: source.sessionId } }, source.token);
    expect((await exec(fork.sessionId, "v", fork.token)).result).toBe("tok");
    // A token still cannot create a plain session.
    await expectProblem(await post("/v1/sessions", {}, source.token), 401);
  });

  it("answer 404 for a missing source or snapshot, 400 for a fork that also sets egress", async () => {
    const source = await createSession();
    await expectProblem(
      await post("/v1/sessions", { from: { sessionId: "ses_doesnotexist0000" } }),
      404,
    );
    await expectProblem(
      await post("/v1/sessions", {
        from: { sessionId: source.sessionId, snapshotId: "snp_doesnotexist0000" },
      }),
      404,
    );
    await expectProblem(
      await post("/v1/sessions", {
        from: { sessionId: source.sessionId },
        egress: { allow: [{ host: "example.com" }] },
      }),
      400,
    );
  });

  it("a fork whose source goes away leaves no session and no rows", async () => {
    const source = await createSession();
    await putFile(source.sessionId, "a.bin", new Uint8Array(6 * 1024 * 1024));
    const snap = await snapshot(source.sessionId);
    // Two pages: the copy is read in parts, and written only once all of it has arrived.
    const first = await env.SESSION.getByName(`dev:${source.sessionId}`).exportPage(
      snap.snapshotId,
      null,
    );
    expect(first !== "missing" && first.next !== null).toBe(true);
    expect((await call(`/v1/sessions/${source.sessionId}`, { method: "DELETE" })).status).toBe(204);
    const stub = env.SESSION.getByName("dev:ses_halfforked000000");
    const forked = await stub.forkFrom(
      `dev:${source.sessionId}`,
      snap.snapshotId,
      "dev",
      "ses_halfforked000000",
      60,
    );
    expect(forked).toBe("missing");
    await expectProblem(await call("/v1/sessions/ses_halfforked000000"), 404);
    await runInDurableObject(stub, (_i: Session, state) => {
      for (const table of ["meta", "files", "file_chunks", "chunks"]) {
        expect(state.storage.sql.exec(`SELECT COUNT(*) AS n FROM ${table}`).one().n).toBe(0);
      }
    });
  });
});

/** Calls an MCP tool with the API key; answers its result's text and `isError`. */
async function tool(name: string, args: Record<string, unknown>) {
  const res = await call("/mcp", {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "tools/call",
      params: { name, arguments: args },
    }),
  });
  expect(res.status).toBe(200);
  const { result } = (await res.json()) as {
    result: { isError?: boolean; content: { text: string }[] };
  };
  return { isError: result.isError, text: result.content.map((c) => c.text).join("") };
}

describe("MCP tools", () => {
  it("snapshot_session, fork_session and restore_session do what their routes do", async () => {
    const { sessionId } = await createSession();
    await exec(sessionId, "let x = 'saved';");
    const taken = await tool("snapshot_session", { sessionId });
    expect(taken.isError).toBeFalsy();
    const { snapshotId } = JSON.parse(taken.text) as Snapshot;
    expect(snapshotId).toMatch(/^snp_/);
    await exec(sessionId, "x = 'changed';");

    const forked = await tool("fork_session", { sessionId, snapshotId });
    expect(forked.isError).toBeFalsy();
    const fork = JSON.parse(forked.text) as Created;
    expect((await exec(fork.sessionId, "x")).result).toBe("saved");
    const now = JSON.parse((await tool("fork_session", { sessionId })).text) as Created;
    expect((await exec(now.sessionId, "x")).result).toBe("changed");

    const restored = await tool("restore_session", { sessionId, snapshotId });
    expect(restored.isError).toBeFalsy();
    expect(JSON.parse(restored.text)).toMatchObject({ sessionId, variables: ["x"] });
    expect((await exec(sessionId, "x")).result).toBe("saved");
  });

  it("answer the route's problem for another session's snapshot or a missing session", async () => {
    const a = await createSession();
    const b = await createSession();
    const { snapshotId } = await snapshot(b.sessionId);
    const crossed = await tool("restore_session", { sessionId: a.sessionId, snapshotId });
    expect(crossed.isError).toBe(true);
    expect(JSON.parse(crossed.text)).toMatchObject({
      status: 404,
      instance: `/v1/sessions/${a.sessionId}/restore`,
    });
    const missing = await tool("snapshot_session", { sessionId: "ses_nosuchsession0000" });
    expect(JSON.parse(missing.text)).toMatchObject({ status: 404 });
    const fork = await tool("fork_session", { sessionId: "ses_nosuchsession0000" });
    expect(JSON.parse(fork.text)).toMatchObject({ status: 404, instance: "/v1/sessions" });
  });
});

describe("schema migration", () => {
  it("moves the files of a session made before snapshots into shared chunks, bytes intact", async () => {
    const sessionId = "ses_madebeforesnapshots";
    const stub = env.SESSION.getByName(`dev:${sessionId}`);
    const first = new Uint8Array(1024 * 1024).fill(7);
    const second = new Uint8Array([1, 2, 3]);
    await runInDurableObject(stub, (instance: Session, state) => {
      const sql = state.storage.sql;
      // Back to schema 2 (before snapshots), holding one file of two chunks.
      for (const row of sql
        .exec<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table'")
        .toArray()) {
        if (!row.name.startsWith("_cf") && !row.name.startsWith("sqlite")) {
          sql.exec(`DROP TABLE ${row.name}`);
        }
      }
      sql.exec(`CREATE TABLE meta (
         id INTEGER PRIMARY KEY CHECK (id = 1), tenant TEXT NOT NULL, session_id TEXT NOT NULL,
         created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, ttl_seconds INTEGER NOT NULL,
         egress TEXT);
       CREATE TABLE variables (name TEXT PRIMARY KEY, position INTEGER NOT NULL, carried TEXT NOT NULL, value TEXT);
       CREATE TABLE imports (position INTEGER PRIMARY KEY, text TEXT NOT NULL, locals TEXT NOT NULL);
       CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, updated_at INTEGER NOT NULL);
       CREATE TABLE file_chunks (path TEXT NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (path, idx));
       CREATE TABLE executions (seq INTEGER PRIMARY KEY AUTOINCREMENT, execution_id TEXT NOT NULL,
         at INTEGER NOT NULL, status TEXT NOT NULL, usage TEXT NOT NULL, egress TEXT NOT NULL);
       ALTER TABLE meta ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
       CREATE TABLE schema_version (version INTEGER NOT NULL);
       INSERT INTO schema_version (version) VALUES (2);`);
      const now = Date.now();
      sql.exec(
        "INSERT INTO meta (id, tenant, session_id, created_at, expires_at, ttl_seconds) VALUES (1, 'dev', ?, ?, ?, 600)",
        sessionId,
        now,
        now + 600_000,
      );
      sql.exec(
        "INSERT INTO files (path, size, updated_at) VALUES ('old.bin', ?, ?)",
        1024 * 1024 + 3,
        now,
      );
      sql.exec("INSERT INTO file_chunks (path, idx, data) VALUES ('old.bin', 0, ?)", first);
      sql.exec("INSERT INTO file_chunks (path, idx, data) VALUES ('old.bin', 1, ?)", second);
      // A new instance over this storage migrates it, as the first one after a deploy does.
      const Constructor = instance.constructor as new (
        ctx: DurableObjectState,
        env: Cloudflare.Env,
      ) => Session;
      // Its migration runs once this call is over (the constructor gates the object on it).
      new Constructor(state, env);
    });
    expect(await stub.schemaVersion()).toBe(4);
    const read = new Uint8Array(await (await readFile(sessionId, "old.bin")).arrayBuffer());
    expect(read.byteLength).toBe(1024 * 1024 + 3);
    expect([read[0], read[1024 * 1024 - 1], ...read.slice(1024 * 1024)]).toEqual([7, 7, 1, 2, 3]);
    const snap = await snapshot(sessionId);
    await putFile(sessionId, "old.bin", "replaced");
    expect((await restore(sessionId, snap.snapshotId)).status).toBe(200);
    const back = await (await readFile(sessionId, "old.bin")).arrayBuffer();
    expect(back.byteLength).toBe(1024 * 1024 + 3);
  });
});
