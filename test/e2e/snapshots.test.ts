import { spawn } from "node:child_process";
import { Cordon, NotFoundError } from "cordon/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_KEY, type Server, startServer } from "./server";

let server: Server;
let cordon: Cordon;

beforeAll(async () => {
  server = await startServer();
  cordon = new Cordon({ url: server.url, apiKey: E2E_KEY });
});
afterAll(async () => {
  await server?.stop();
});

async function run(id: string, code: string, apiKey = E2E_KEY) {
  const client = apiKey === E2E_KEY ? cordon : new Cordon({ url: server.url, apiKey });
  const result = await client.sessions.execute(id, { code });
  expect(result.status, JSON.stringify(result.error)).toBe("ok");
  return result.result;
}

/** Runs `bin/cordon.mjs` against the test server; answers its exit code and output. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["bin/cordon.mjs", ...args], {
      env: { ...process.env, CORDON_URL: server.url, CORDON_API_KEY: E2E_KEY },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("snapshots through the client", () => {
  it("snapshot, fork, restore, list and delete", async () => {
    const { sessionId } = await cordon.sessions.create();
    await run(sessionId, "let step = 1;");
    await cordon.files.put(sessionId, "log.txt", "one");
    const snap = await cordon.sessions.snapshot(sessionId);
    await run(sessionId, "step = 2;");
    await cordon.files.put(sessionId, "log.txt", "two");

    const fork = await cordon.sessions.fork(sessionId, { snapshotId: snap.snapshotId });
    expect(await run(fork.sessionId, "step", fork.token)).toBe(1);
    const now = await cordon.sessions.fork(sessionId);
    expect(await run(now.sessionId, "step")).toBe(2);

    const info = await cordon.sessions.restore(sessionId, snap.snapshotId);
    expect(info.variables).toEqual(["step"]);
    expect(await run(sessionId, "step")).toBe(1);
    expect(await cordon.files.getText(sessionId, "log.txt")).toBe("one");

    expect((await cordon.sessions.snapshots(sessionId)).snapshots).toEqual([snap]);
    await cordon.sessions.deleteSnapshot(sessionId, snap.snapshotId);
    await expect(cordon.sessions.restore(sessionId, snap.snapshotId)).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });
});

describe("snapshots through the CLI", () => {
  it("takes, lists, restores and deletes snapshots, and forks a session", async () => {
    const { sessionId } = await cordon.sessions.create();
    await run(sessionId, "let v = 'kept';");
    const taken = await cli(["snapshot", "take", sessionId, "--json"]);
    expect(taken.code, taken.stderr).toBe(0);
    const { snapshotId } = JSON.parse(taken.stdout) as { snapshotId: string };
    await run(sessionId, "v = 'lost';");

    const listed = await cli(["snapshot", "ls", sessionId]);
    expect(listed.stdout).toContain(snapshotId);
    const forked = await cli(["session", "fork", sessionId, "--snapshot", snapshotId, "--json"]);
    expect(forked.code, forked.stderr).toBe(0);
    const fork = JSON.parse(forked.stdout) as { sessionId: string };
    expect(await run(fork.sessionId, "v")).toBe("kept");

    const restored = await cli(["snapshot", "restore", sessionId, snapshotId]);
    expect(restored.code, restored.stderr).toBe(0);
    expect(await run(sessionId, "v")).toBe("kept");
    expect((await cli(["snapshot", "rm", sessionId, snapshotId])).code).toBe(0);
    const gone = await cli(["snapshot", "restore", sessionId, snapshotId]);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain("404");
  });
});

describe("snapshots across a restart of npm start", () => {
  it("are still there, restore, and fork; forks and their tokens survive too", async () => {
    const { sessionId, token } = await cordon.sessions.create();
    await run(sessionId, "const before = 'restart';");
    await cordon.files.put(sessionId, "kept.txt", "on disk");
    const snap = await cordon.sessions.snapshot(sessionId);
    const fork = await cordon.sessions.fork(sessionId);
    await run(sessionId, "const after = true;");

    const dataDir = server.dataDir;
    await server.stop();
    server = await startServer({}, dataDir);
    cordon = new Cordon({ url: server.url, apiKey: E2E_KEY });

    expect((await cordon.sessions.snapshots(sessionId)).snapshots).toEqual([snap]);
    const byToken = new Cordon({ url: server.url, apiKey: token });
    await byToken.sessions.restore(sessionId, snap.snapshotId);
    expect(await run(sessionId, "[before, typeof after]")).toEqual(["restart", "undefined"]);
    expect(await run(fork.sessionId, "before", fork.token)).toBe("restart");
    expect(await cordon.files.getText(fork.sessionId, "kept.txt")).toBe("on disk");
    const again = await cordon.sessions.fork(sessionId, { snapshotId: snap.snapshotId });
    expect(await cordon.files.getText(again.sessionId, "kept.txt")).toBe("on disk");
  });
});
