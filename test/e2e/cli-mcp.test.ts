// `cordon exec --mcp NS=URL`: the CLI hands an MCP server to the code as a namespace.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type McpFixture, startMcpFixture } from "./mcp-fixture";
import { E2E_KEY, type Server, startServer } from "./server";

let server: Server;
let mcp: McpFixture;
const dir = mkdtempSync(join(tmpdir(), "cordon-cli-mcp-"));

beforeAll(async () => {
  mcp = await startMcpFixture();
  server = await startServer({
    CORDON_ALLOW_PRIVATE_EGRESS: "1",
    CORDON_DEV_POLICY: JSON.stringify({
      egress: { allow: [mcp.origin] },
      limits: { rate: 10_000, burst: 10_000, concurrency: 256 },
    }),
  });
}, 120_000);
afterAll(async () => {
  await server?.stop();
  await mcp?.close();
});

function cordon(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
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

describe("cordon exec --mcp", () => {
  it("calls the MCP server's tools as the namespace's methods", async () => {
    const script = join(dir, "add.js");
    writeFileSync(script, "const { sum } = await remote.add({ a: 40, b: 2 });\nsum");
    const run = await cordon(["exec", script, "--mcp", `remote=${mcp.url}`, "--json"]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      status: "ok",
      result: 42,
      tools: [{ namespace: "remote", name: "add", ok: true }],
    });
  });

  it("refuses a --mcp without NS=", async () => {
    const run = await cordon(["exec", join(dir, "add.js"), "--mcp", mcp.url]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/--mcp takes NS=URL/);
  });
});
