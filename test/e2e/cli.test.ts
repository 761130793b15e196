import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_KEY, type ExecutionResult, type Server, startServer } from "./server";

let server: Server;
const dir = mkdtempSync(join(tmpdir(), "cordon-cli-"));

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server?.stop();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `bin/cordon.mjs` as a subprocess against the test server. */
function cordon(args: string[], options: { key?: string; stdin?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["bin/cordon.mjs", ...args], {
      env: { ...process.env, CORDON_URL: server.url, CORDON_API_KEY: options.key ?? E2E_KEY },
      stdio: ["pipe", "pipe", "pipe"],
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
    child.stdin.end(options.stdin ?? "");
  });
}

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe("the cordon CLI", () => {
  it("runs a TypeScript file and prints its logs and result, exiting 0", async () => {
    const script = file(
      "sum.ts",
      "const xs: number[] = input.xs;\nconsole.info('adding', xs.length, 'numbers');\nxs.reduce((a, b) => a + b, 0)",
    );
    const run = await cordon(["exec", script, "--input", '{"xs":[1,2,3,4]}']);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("[info] adding 4 numbers");
    expect(run.stdout).toContain("result: 10");
    expect(run.stdout).toMatch(/status: ok in \d+ ms/);
  });

  it("prints the error with its line and column and exits 1 when the code throws", async () => {
    const script = file("fail.js", "const a = 1;\n  throw new Error('broken');");
    const run = await cordon(["exec", script]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/Error: broken \(at 2:\d+\)/);
    expect(run.stdout).toContain("status: error");
  });

  it("exits 1 for a timeout", async () => {
    const script = file("loop.js", "for (;;) {}");
    const run = await cordon(["exec", script, "--timeout", "300"]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain("status: timeout");
  });

  it("prints the raw execution result as JSON with --json", async () => {
    const script = file("json.js", "console.log('x');\n({ answer: 42 })");
    const run = await cordon(["exec", script, "--json"]);
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout) as ExecutionResult;
    expect(result).toMatchObject({
      status: "ok",
      result: { answer: 42 },
      logs: [{ level: "log", message: "x" }],
    });
  });

  it("shows denied egress in the audit and passes --allow as the request's allowlist", async () => {
    const script = file(
      "egress.js",
      "try { await fetch('https://blocked.example.com/') } catch (e) { console.error(e.message) }\n'done'",
    );
    const run = await cordon(["exec", script, "--allow", "api.example.com", "--json"]);
    const result = JSON.parse(run.stdout) as ExecutionResult;
    expect(result.egress).toMatchObject([
      { method: "GET", url: "https://blocked.example.com/", decision: "denied" },
    ]);
    const readable = await cordon(["exec", script]);
    expect(readable.stdout).toMatch(/egress denied GET https:\/\/blocked\.example\.com\/ \(.+\)/);
    // The server judges the rules --allow sends: a malformed one is refused by field.
    const refused = await cordon(["exec", script, "--allow", "not a host!"]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/^ {2}egress\.allow\.0: /m);
  });

  it("streams an execution with --stream", async () => {
    const script = file("stream.js", "console.warn('careful');\n7 * 6");
    const run = await cordon(["exec", script, "--stream"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("[warn] careful");
    expect(run.stdout).toContain("result: 42");
  });

  it("reads code from standard input with -", async () => {
    const run = await cordon(["exec", "-", "--json"], { stdin: "'from stdin'" });
    expect(JSON.parse(run.stdout)).toMatchObject({ status: "ok", result: "from stdin" });
  });

  it("creates a session whose variables carry over between exec --session runs", async () => {
    const created = await cordon(["session", "create", "--ttl", "600", "--json"]);
    expect(created.code).toBe(0);
    const { sessionId } = JSON.parse(created.stdout) as { sessionId: string };
    const set = await cordon(["exec", file("set.js", "let visits = 1"), "--session", sessionId]);
    expect(set.code).toBe(0);
    const bump = await cordon([
      "exec",
      file("bump.js", "visits += 1; visits"),
      "--session",
      sessionId,
    ]);
    expect(bump.stdout).toContain("result: 2");
    const info = await cordon(["session", "info", sessionId]);
    expect(info.stdout).toMatch(/variables\s+visits/);
    const deleted = await cordon(["session", "delete", sessionId]);
    expect(deleted.code).toBe(0);
    const gone = await cordon(["exec", file("gone.js", "1"), "--session", sessionId]);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toContain("Not found (404)");
  });

  it("puts, lists and gets workspace files", async () => {
    const created = await cordon(["session", "create", "--json"]);
    const { sessionId } = JSON.parse(created.stdout) as { sessionId: string };
    const source = file("data.csv", "a,b\n1,2\n");
    const put = await cordon(["files", "put", sessionId, "in/data.csv", source]);
    expect(put.code).toBe(0);
    const piped = await cordon(["files", "put", sessionId, "notes.txt"], { stdin: "piped" });
    expect(piped.code).toBe(0);
    const ls = await cordon(["files", "ls", sessionId]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/^\s+8 {2}\S+ {2}in\/data\.csv$/m);
    expect(ls.stdout).toMatch(/^\s+5 {2}\S+ {2}notes\.txt$/m);
    const get = await cordon(["files", "get", sessionId, "in/data.csv"]);
    expect(get.stdout).toBe("a,b\n1,2\n");
    const out = join(dir, "copy.txt");
    const saved = await cordon(["files", "get", sessionId, "notes.txt", "--out", out]);
    expect(saved.code).toBe(0);
    expect(readFileSync(out, "utf8")).toBe("piped");
    const missing = await cordon(["files", "get", sessionId, "absent.txt"]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("Not found (404)");
  });

  it("exits 2 with the problem's title for a bad API key", async () => {
    const run = await cordon(["exec", file("ok.js", "1")], { key: "wrong-key" });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("Unauthorized (401)");
    expect(run.stdout).toBe("");
  });

  it("exits 2 with the field errors of a request the server refuses", async () => {
    const run = await cordon(["exec", file("slow.js", "1"), "--timeout", "999999999"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain("Invalid request (400)");
    expect(run.stderr).toContain("timeoutMs");
  });

  it("exits 2 with the usage for a mistake on the command line", async () => {
    const bad = await cordon(["exec", file("x.js", "1"), "--input", "{not json"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--input is not JSON");
    expect(bad.stderr).toContain("usage:");
    const unknown = await cordon(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
  });
});
