import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_KEY, type ExecutionResult, type Server, startServer } from "./server";

let server: Server;
let client: Client;

beforeAll(async () => {
  server = await startServer();
  client = await connect(E2E_KEY);
});
afterAll(async () => {
  await client?.close();
  await server?.stop();
});

async function connect(key: string): Promise<Client> {
  const mcp = new Client({ name: "cordon-e2e", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL("/mcp", server.url), {
    requestInit: { headers: { authorization: `Bearer ${key}` } },
  });
  await mcp.connect(transport);
  return mcp;
}

type ToolResult = Awaited<ReturnType<Client["callTool"]>>;

/** The text of a tool result's single text item. */
function text(result: ToolResult): string {
  const content = result.content as { type: string; text?: string }[];
  expect(content).toHaveLength(1);
  expect(content[0]?.type).toBe("text");
  return content[0]?.text ?? "";
}

async function call(name: string, args: Record<string, unknown>): Promise<ToolResult> {
  return client.callTool({ name, arguments: args });
}

describe("the MCP server at /mcp", () => {
  it("initializes with the official client and names itself", () => {
    expect(client.getServerVersion()).toMatchObject({ name: "cordon" });
    expect(client.getServerCapabilities()?.tools).toBeDefined();
  });

  it("negotiates protocol version 2025-06-18 when a client asks for it", async () => {
    const res = await fetch(new URL("/mcp", server.url), {
      method: "POST",
      headers: {
        authorization: `Bearer ${E2E_KEY}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 1,
        method: "initialize",
        params: {
          protocolVersion: "2025-06-18",
          capabilities: {},
          clientInfo: { name: "old-client", version: "1" },
        },
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { result: { protocolVersion: string } };
    expect(body.result.protocolVersion).toBe("2025-06-18");
  });

  it("lists eight tools whose input schemas come from the HTTP API's schemas", async () => {
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual([
      "create_session",
      "execute",
      "fork_session",
      "list_files",
      "read_file",
      "restore_session",
      "snapshot_session",
      "write_file",
    ]);
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    const execute = byName.execute?.inputSchema;
    expect(execute?.required).toEqual(["code"]);
    expect(execute?.properties).toMatchObject({
      language: { enum: ["javascript", "typescript", "python"], default: "javascript" },
      timeoutMs: { type: "integer", maximum: 300_000 },
      sessionId: { type: "string", pattern: "^ses_[A-Za-z0-9_-]{8,64}$" },
      egress: { type: "object" },
    });
    expect(byName.create_session?.inputSchema.properties).toMatchObject({
      ttlSeconds: { type: "integer", minimum: 1, maximum: 86_400 },
    });
    for (const name of [
      "list_files",
      "read_file",
      "write_file",
      "snapshot_session",
      "restore_session",
      "fork_session",
    ]) {
      expect(byName[name]?.inputSchema.required).toContain("sessionId");
    }
    expect(byName.restore_session?.inputSchema.required).toContain("snapshotId");
  });

  it("runs code with execute and answers the execution result", async () => {
    const result = await call("execute", {
      code: "const xs: number[] = input.xs;\nconsole.log('summing');\nxs.reduce((a, b) => a + b, 0)",
      language: "typescript",
      input: { xs: [1, 2, 3] },
    });
    expect(result.isError).toBe(false);
    const parsed = JSON.parse(text(result)) as ExecutionResult;
    expect(parsed).toMatchObject({
      status: "ok",
      result: 6,
      logs: [{ level: "log", message: "summing" }],
    });
    expect(result.structuredContent).toEqual(parsed);
  });

  it("answers code that throws as a tool result with isError, not a transport error", async () => {
    const result = await call("execute", { code: "const a = 1;\nthrow new TypeError('nope')" });
    expect(result.isError).toBe(true);
    const parsed = JSON.parse(text(result)) as ExecutionResult;
    expect(parsed.status).toBe("error");
    expect(parsed.error).toMatchObject({ name: "TypeError", message: "nope", line: 2 });
  });

  it("answers arguments the schema refuses as a tool error", async () => {
    const result = await call("execute", { code: "1", timeoutMs: 0 });
    expect(result.isError).toBe(true);
    expect(text(result)).toContain("timeoutMs");
  });

  it("carries a variable between executions of a session made with create_session", async () => {
    const created = await call("create_session", { ttlSeconds: 600 });
    expect(created.isError).toBeFalsy();
    const { sessionId } = JSON.parse(text(created)) as { sessionId: string };
    expect(sessionId).toMatch(/^ses_/);
    const first = await call("execute", { code: "let total = 40", sessionId });
    expect(first.isError).toBe(false);
    const second = await call("execute", { code: "total += 2; total", sessionId });
    expect(JSON.parse(text(second))).toMatchObject({ status: "ok", result: 42 });
    const missing = await call("execute", { code: "1", sessionId: "ses_doesnotexist0000" });
    expect(missing.isError).toBe(true);
    expect(JSON.parse(text(missing))).toMatchObject({ status: 404, title: "Not found" });
  });

  it("round-trips files through write_file, list_files, read_file and the session's code", async () => {
    const { sessionId } = JSON.parse(text(await call("create_session", {}))) as {
      sessionId: string;
    };
    const wrote = await call("write_file", {
      sessionId,
      path: "in/greeting.txt",
      content: "héllo wörld",
    });
    expect(wrote.isError).toBeFalsy();
    const binary = await call("write_file", {
      sessionId,
      path: "/tmp/workspace/blob.bin",
      content: Buffer.from([0xff, 0x00, 0xfe]).toString("base64"),
      encoding: "base64",
    });
    expect(binary.isError).toBeFalsy();

    const listed = JSON.parse(text(await call("list_files", { sessionId }))) as {
      files: { path: string; size: number }[];
    };
    expect(listed.files.map((f) => [f.path, f.size]).sort()).toEqual([
      ["blob.bin", 3],
      ["in/greeting.txt", 13],
    ]);

    expect(text(await call("read_file", { sessionId, path: "in/greeting.txt" }))).toBe(
      "héllo wörld",
    );
    const blob = await call("read_file", { sessionId, path: "blob.bin" });
    expect(blob.content).toEqual([
      {
        type: "resource",
        resource: {
          uri: `cordon://sessions/${sessionId}/files/blob.bin`,
          mimeType: "application/octet-stream",
          blob: "/wD+",
        },
      },
    ]);

    const upper = await call("execute", {
      sessionId,
      code: "import fs from 'node:fs';\nconst s = fs.readFileSync('/tmp/workspace/in/greeting.txt', 'utf8');\nfs.writeFileSync('/tmp/workspace/out.txt', s.toUpperCase())",
    });
    expect(upper.isError).toBe(false);
    expect(text(await call("read_file", { sessionId, path: "out.txt" }))).toBe("HÉLLO WÖRLD");

    const absent = await call("read_file", { sessionId, path: "nope.txt" });
    expect(absent.isError).toBe(true);
    expect(JSON.parse(text(absent))).toMatchObject({ status: 404 });
    const outside = await call("read_file", { sessionId, path: "../../etc/passwd" });
    expect(outside.isError).toBe(true);
  });

  it("refuses a request without an API key with 401", async () => {
    const res = await fetch(new URL("/mcp", server.url), {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
    });
    expect(res.status).toBe(401);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    await expect(connect("wrong-key")).rejects.toThrow(/401|nauthorized/);
  });

  it("puts rate-limit headers on its answers, as on every tenant route", async () => {
    const res = await fetch(new URL("/mcp", server.url), {
      method: "POST",
      headers: {
        authorization: `Bearer ${E2E_KEY}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-protocol-version": "2025-06-18",
      },
      body: JSON.stringify({ jsonrpc: "2.0", id: 2, method: "tools/list" }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get("ratelimit")).toMatch(/^"default";r=\d+;t=\d+$/);
  });
});
