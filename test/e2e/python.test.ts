// Python on `npm start`: the contract as a client sees it (docs/python.md), and hostile Python
// ending cleanly while a neighbour tenant is timed throughout, as in the other hostile files.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { neighbourRun, watchHealth as watchServerHealth } from "./neighbour";
import { E2E_KEY, type ExecutionResult, type Server, startServer } from "./server";

const ADMIN = "e2e-admin-token-0123456789";
const TIMEOUT_MS = 2000;

let server: Server;
let neighbourKey = "";
let baselineMs = 0;

const admin = (path: string, init: RequestInit = {}) =>
  server.call(path, { ...init, headers: { authorization: `Bearer ${ADMIN}`, ...init.headers } });

const py = (code: string, extra: Record<string, unknown> = {}) =>
  server.execute({ code, language: "python", ...extra });

const neighbour = () => neighbourRun(server, neighbourKey);

const watchHealth = (done: Promise<unknown>) => watchServerHealth(server, done);

async function newSession(): Promise<string> {
  const res = await server.call("/v1/sessions", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ ttlSeconds: 3600 }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { sessionId: string }).sessionId;
}

async function inSession(id: string, code: string, language = "python", timeoutMs = 10_000) {
  const res = await server.call(`/v1/sessions/${id}/execute`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ code, language, timeoutMs }),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as ExecutionResult & { warnings?: string[] };
}

beforeAll(async () => {
  server = await startServer({ CORDON_ADMIN_TOKEN: ADMIN });
  const created = await admin("/v1/admin/tenants", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ id: "neighbour", policy: { limits: { rate: 1000, burst: 1000 } } }),
  });
  expect(created.status).toBe(201);
  neighbourKey = ((await created.json()) as { apiKey: string }).apiKey;
  // The first Python run of a runner makes its snapshot; the hostile cases time later runs.
  expect(await py("1 + 1", { timeoutMs: 30_000 })).toMatchObject({ status: "ok", result: 2 });
  const samples: number[] = [];
  for (let i = 0; i < 5; i++) samples.push((await neighbour()).ms);
  baselineMs = samples.sort((a, b) => a - b)[2] ?? 0;
}, 180_000);

afterAll(async () => {
  await server?.stop();
});

describe("Python on /v1/execute", () => {
  it("answers the last expression's value, as JSON by the written rule", async () => {
    const r = await py(
      "import datetime\nxs = [1, 2, 3]\n{'sum': sum(xs), 'big': 2**70, 'none': None, 'when': datetime.date(2026, 1, 2), 't': (1, 'a')}",
    );
    expect(r).toMatchObject({
      status: "ok",
      result: {
        sum: 6,
        big: "1180591620717411303424",
        none: null,
        when: "2026-01-02",
        t: [1, "a"],
      },
    });
  });

  it("gives print, stderr and logging as logs, in order", async () => {
    const r = await py(
      "import sys, logging\nprint('one')\nsys.stderr.write('two\\n')\nlogging.error('three')\nprint('four', 4)",
    );
    expect(r.status).toBe("ok");
    expect(r.logs).toEqual([
      { level: "log", message: "one" },
      { level: "error", message: "two" },
      { level: "error", message: "ERROR:root:three" },
      { level: "log", message: "four 4" },
    ]);
  });

  it("answers an exception with its class, message and line in the code as sent", async () => {
    const r = await py(
      "x = 1\ndef f():\n    raise ValueError('bad ' + str(x))\nprint('before')\nf()",
    );
    expect(r).toMatchObject({
      status: "error",
      error: { name: "ValueError", message: "bad 1", line: 3 },
      logs: [{ level: "log", message: "before" }],
    });
    expect(r.error?.stack).toMatch(
      /^Traceback[\s\S]*line 5[\s\S]*line 3, in f[\s\S]*ValueError: bad 1\n$/,
    );
    const syntax = await py("x = (\n1 +\n");
    expect(syntax).toMatchObject({ status: "error", error: { name: "SyntaxError" } });
  });

  it("gives the code its input as a dict, and two fresh runs different random numbers", async () => {
    const r = await py("[type(input).__name__, input['a'] + input['b']]", {
      input: { a: 1, b: 2 },
    });
    expect(r.result).toEqual(["dict", 3]);
    const code = "import random\nrandom.random()";
    const [a, b] = await Promise.all([py(code), py(code)]);
    expect(a.status).toBe("ok");
    expect(a.result).not.toEqual(b.result);
  });

  it("is offered by the MCP execute tool and the OpenAPI document", async () => {
    const mcp = new Client({ name: "cordon-e2e", version: "1.0.0" });
    await mcp.connect(
      new StreamableHTTPClientTransport(new URL("/mcp", server.url), {
        requestInit: { headers: { authorization: `Bearer ${E2E_KEY}` } },
      }),
    );
    try {
      const called = await mcp.callTool({
        name: "execute",
        arguments: { code: "print('hi')\n6 * 7", language: "python" },
      });
      const content = called.content as { type: string; text: string }[];
      const result = JSON.parse(content[0]?.text ?? "") as ExecutionResult;
      expect(result).toMatchObject({ status: "ok", result: 42 });
    } finally {
      await mcp.close();
    }
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as {
      components: {
        schemas: { ExecutionRequest: { properties: { language: { enum: string[] } } } };
      };
    };
    expect(doc.components.schemas.ExecutionRequest.properties.language.enum).toContain("python");
  });

  it("runs a .py file from the CLI", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cordon-py-cli-"));
    const script = join(dir, "sum.py");
    writeFileSync(script, "print('adding', len(input['xs']))\nsum(input['xs'])\n");
    const run = await new Promise<{ code: number | null; stdout: string }>((resolve, reject) => {
      const child = spawn(
        process.execPath,
        ["bin/cordon.mjs", "exec", script, "--input", '{"xs":[1,2,3,4]}'],
        {
          env: { ...process.env, CORDON_URL: server.url, CORDON_API_KEY: E2E_KEY },
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      let stdout = "";
      child.stdout.on("data", (chunk) => {
        stdout += chunk;
      });
      const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
      child.once("error", reject);
      child.once("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout });
      });
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("adding 4");
    expect(run.stdout).toContain("result: 10");
  });
});

const hostile: [string, string, RegExp][] = [
  ["while True: pass", "while True:\n    pass", /^(timeout|killed)$/],
  [
    "an endless loop that catches what stops it",
    "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass",
    /^(timeout|killed)$/,
  ],
  [
    "a memory bomb",
    "xs = []\nwhile True:\n    xs.append(bytearray(64 * 1024 * 1024))",
    /^(error|timeout|killed)$/,
  ],
  [
    "deep recursion",
    "import sys\nsys.setrecursionlimit(10**9)\ndef f(n):\n    return f(n + 1) + 1\nf(0)",
    /^(error|timeout|killed)$/,
  ],
];

describe.each(hostile)("hostile Python: %s", (name, code, statuses) => {
  it("ends cleanly within its timeout + 1 s while a neighbour and /healthz carry on", async () => {
    const started = Date.now();
    const run = py(code, { timeoutMs: TIMEOUT_MS });
    const health = watchHealth(run);
    await new Promise((r) => setTimeout(r, 300));
    const other = await neighbour();
    const result = await run;
    const elapsed = Date.now() - started;

    expect(result.status, `${name}: ${JSON.stringify(result.error)}`).toMatch(statuses);
    if (result.status === "error") {
      expect(result.error?.name).toMatch(/^(MemoryError|RecursionError)$/);
    }
    expect(elapsed).toBeLessThan(TIMEOUT_MS + 1000);

    expect(other.result).toMatchObject({ status: "ok", result: 42 });
    expect(other.ms - baselineMs).toBeLessThan(1000);

    const { failures, slowest } = await health;
    expect(failures).toBe(0);
    expect(slowest).toBeLessThan(1000);
    // Python still runs afterwards.
    expect(await py("2 + 2")).toMatchObject({ status: "ok", result: 4 });
  });
});

describe("a tenant's Python runs on every core", () => {
  it("leave a runner free for a neighbour: half its runs wait under 100 ms, all under a second", async () => {
    let stop = false;
    let answered = 0;
    const load = Promise.all(
      Array.from({ length: 4 }, async (_, client) => {
        for (let i = 0; !stop; i++) {
          const r = await py(`# ${client}-${i}\nsum(range(10_000))`, { timeoutMs: 60_000 });
          expect(r).toMatchObject({ status: "ok", result: 49_995_000 });
          answered++;
        }
      }),
    );
    try {
      // Until every runner has made its snapshot (a one-off, which one runner is always kept
      // free of: 2 to 5 s) and restores from it.
      const warm = Date.now() + 30_000;
      while (answered < 16 && Date.now() < warm) await new Promise((r) => setTimeout(r, 100));
      const ms: number[] = [];
      for (const until = Date.now() + 4_000; Date.now() < until; ) {
        const other = await neighbour();
        expect(other.result).toMatchObject({ status: "ok", result: 42 });
        ms.push(other.ms);
      }
      // A runner is kept free of restores: most runs wait for none (a restore is 0.25 to 1 s).
      const sorted = [...ms].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)] as number;
      expect(median - baselineMs, JSON.stringify(ms)).toBeLessThan(100);
      expect(Math.max(...ms) - baselineMs, JSON.stringify(ms)).toBeLessThan(1000);
    } finally {
      stop = true;
      await load;
    }
  }, 90_000);
});

describe("Python in a session", () => {
  it("carries variables, shares the workspace with JavaScript and survives a restart", async () => {
    const id = await newSession();
    const js = await inSession(
      id,
      "import fs from 'node:fs';\nfs.writeFileSync('/tmp/workspace/from-js.txt', 'js wrote')",
      "javascript",
    );
    expect(js.status).toBe("ok");
    const first = await inSession(
      id,
      [
        "import json",
        "xs = [1, 2]",
        "def sq(n):",
        "    return n * n",
        "text = open('/tmp/workspace/from-js.txt').read()",
        "open('/tmp/workspace/from-py.txt', 'w').write(text.upper())",
      ].join("\n"),
    );
    expect(first.status).toBe("ok");
    const second = await inSession(id, "xs.append(3)\n[xs, sq(4), json.dumps(text)]");
    expect(second).toMatchObject({ status: "ok", result: [[1, 2, 3], 16, '"js wrote"'] });
    const back = await inSession(
      id,
      "import fs from 'node:fs';\nfs.readFileSync('/tmp/workspace/from-py.txt', 'utf8')",
      "javascript",
    );
    expect(back).toMatchObject({ status: "ok", result: "JS WROTE" });

    const dataDir = server.dataDir;
    expect(await server.stop()).toBe(0);
    server = await startServer({ CORDON_ADMIN_TOKEN: ADMIN }, dataDir);
    // The first Python run of a restarted server's runner makes its snapshot first.
    const after = await inSession(id, "[xs, sq(5)]", "python", 60_000);
    expect(after).toMatchObject({ status: "ok", result: [[1, 2, 3], 25] });
  }, 120_000);
});
