import { afterAll, describe, expect, it } from "vitest";
import { type ExecutionResult, type Server, startServer } from "./server";

let server: Server | undefined;
afterAll(async () => {
  await server?.stop();
});

async function sessionExec(s: Server, id: string, code: string, auth?: string, key?: string) {
  const res = await s.call(`/v1/sessions/${id}/execute`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(auth ? { authorization: `Bearer ${auth}` } : {}),
      ...(key ? { "idempotency-key": key } : {}),
    },
    body: JSON.stringify({ code }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as ExecutionResult;
}

describe("sessions on npm start", () => {
  it("keep variables, files and history across executions and across a restart", async () => {
    server = await startServer();
    const created = await server.call("/v1/sessions", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ ttlSeconds: 3600 }),
    });
    expect(created.status).toBe(201);
    const { sessionId, token } = (await created.json()) as { sessionId: string; token: string };

    await sessionExec(server, sessionId, "const xs = [1, 2];\nfunction sq(n) { return n * n }");
    expect((await sessionExec(server, sessionId, "xs.map(sq)")).result).toEqual([1, 4]);
    await sessionExec(
      server,
      sessionId,
      "import fs from 'node:fs';\nfs.writeFileSync('/tmp/workspace/notes.txt', 'from code')",
    );
    const put = await server.call(`/v1/sessions/${sessionId}/files/in/data.csv`, {
      method: "PUT",
      headers: { "content-type": "text/csv" },
      body: "a,b\n1,2\n",
    });
    expect(put.status).toBe(204);
    const read = await sessionExec(
      server,
      sessionId,
      "import fs from 'node:fs';\nfs.readFileSync('/tmp/workspace/in/data.csv', 'utf8').split('\\n')[1]",
    );
    expect(read.result).toBe("1,2");
    const first = await sessionExec(server, sessionId, "xs.push(3); xs.length", token, "retry-me");
    const retried = await sessionExec(
      server,
      sessionId,
      "xs.push(3); xs.length",
      token,
      "retry-me",
    );
    expect(retried.executionId).toBe(first.executionId);

    // Restart on the same data directory.
    const dataDir = server.dataDir;
    expect(await server.stop()).toBe(0);
    server = await startServer({}, dataDir);

    expect((await sessionExec(server, sessionId, "[xs, sq(4)]", token)).result).toEqual([
      [1, 2, 3],
      16,
    ]);
    const notes = await server.call(`/v1/sessions/${sessionId}/files/notes.txt`);
    expect(await notes.text()).toBe("from code");
    const info = (await (await server.call(`/v1/sessions/${sessionId}`)).json()) as {
      executions: number;
      variables: string[];
      files: number;
    };
    expect(info).toMatchObject({ executions: 6, variables: ["xs", "sq"], files: 2 });
    const history = (await (await server.call(`/v1/sessions/${sessionId}/executions`)).json()) as {
      executions: { executionId: string }[];
    };
    expect(history.executions.at(-2)?.executionId).toBe(first.executionId);

    const escaping = await server.call(`/v1/sessions/${sessionId}/files/..%2F..%2Fetc%2Fpasswd`);
    expect(escaping.status).toBe(400);
    const oneShot = await server.call("/v1/execute", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ code: "1" }),
    });
    expect(oneShot.status).toBe(401);

    expect((await server.call(`/v1/sessions/${sessionId}`, { method: "DELETE" })).status).toBe(204);
    const after = await server.call(`/v1/sessions/${sessionId}/files`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(after.status).toBe(404);
  });
});
