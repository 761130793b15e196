// MCP servers as tool namespaces, over real HTTP against `npm start`: Cordon calls a loopback MCP
// server (built with the SDK) through the tenant's egress gateway, with a secret in a header.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type McpFixture, startMcpFixture } from "./mcp-fixture";
import { E2E_KEY, type ExecutionResult, type Server, startServer } from "./server";

const SECRET = "mcp-secret-value-0123456789abcdef";

let server: Server;
let mcp: McpFixture;
let unlisted: McpFixture;

interface ToolResult extends ExecutionResult {
  tools?: { namespace: string; name: string; ok: boolean; ms: number }[];
}

beforeAll(async () => {
  mcp = await startMcpFixture();
  unlisted = await startMcpFixture();
  const port = Number(new URL(mcp.origin).port);
  server = await startServer({
    CORDON_ALLOW_PRIVATE_EGRESS: "1",
    CORDON_DEV_POLICY: JSON.stringify({
      egress: { allow: [mcp.origin, { host: "localhost", port, scheme: "http" }] },
      limits: { rate: 10_000, burst: 10_000, concurrency: 256 },
    }),
    CORDON_DEV_SECRETS: JSON.stringify({
      MCP_TOKEN: { value: SECRET, hosts: [mcp.origin] },
    }),
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await mcp?.close();
  await unlisted?.close();
});

async function execute(body: Record<string, unknown>): Promise<ToolResult> {
  return (await server.execute(body)) as ToolResult;
}

describe("MCP servers as tool namespaces", () => {
  it("a structured tool resolves with its structuredContent; isError rejects with its text; text parses as JSON or stays text", async () => {
    const result = await execute({
      code: `const sum = await remote.add({ a: 2, b: 3 });
let failure;
try { await remote.fails({ why: "on purpose" }) } catch (e) { failure = [e instanceof Error, e.message] }
[sum, failure, await remote.plain({})]`,
      tools: { remote: { mcp: { url: mcp.url } } },
    });
    expect(result).toMatchObject({
      status: "ok",
      result: [{ sum: 5 }, [true, "failed: on purpose"], "just text"],
    });
    expect(result.tools?.map((t) => [t.namespace, t.name, t.ok])).toEqual([
      ["remote", "add", true],
      ["remote", "fails", false],
      ["remote", "plain", true],
    ]);
    // Every request to the server is in the execution's audit.
    expect(result.egress.length).toBeGreaterThan(0);
    for (const attempt of result.egress) {
      expect(attempt).toMatchObject({ url: mcp.url, decision: "allowed" });
    }
  });

  it("a ${NAME} header carries the secret to its bound host, and the echo of it is scrubbed", async () => {
    const before = mcp.seen.length;
    const result = await execute({
      code: "await remote.whoami({})",
      tools: {
        remote: { mcp: { url: mcp.url, headers: { authorization: "Bearer ${MCP_TOKEN}" } } },
      },
    });
    expect(result.status).toBe("ok");
    const got = mcp.seen.slice(before).map((h) => h.authorization);
    expect(got.length).toBeGreaterThan(0);
    expect(got.every((a) => a === `Bearer ${SECRET}`)).toBe(true);
    expect(JSON.stringify(result)).not.toContain(SECRET);
    expect(result.result).toEqual({ authorization: expect.stringContaining("REDACTED") });
  });

  it("the secret never goes to a host it is not bound to: the call rejects", async () => {
    const port = new URL(mcp.origin).port;
    const before = mcp.seen.length;
    const result = await execute({
      code: "try { await remote.whoami({}); 'sent' } catch (e) { e.message }",
      tools: {
        remote: {
          mcp: {
            url: `http://localhost:${port}/mcp`,
            headers: { authorization: "Bearer ${MCP_TOKEN}" },
          },
        },
      },
    });
    expect(result.status).toBe("ok");
    expect(result.result).toMatch(/MCP_TOKEN/);
    expect(mcp.seen.slice(before).some((h) => h.authorization?.includes(SECRET))).toBe(false);
    expect(result.egress.some((a) => a.decision === "denied")).toBe(true);
  });

  it("a server the tenant's policy does not allow is never reached: the call rejects, audited", async () => {
    const result = await execute({
      code: "try { await other.add({ a: 1, b: 1 }); 'reached' } catch (e) { e.message }",
      tools: { other: { mcp: { url: unlisted.url } } },
    });
    expect(result.status).toBe("ok");
    expect(result.result).toMatch(/egress is not allowed: POST .* not allowed/);
    expect(unlisted.seen).toHaveLength(0);
    expect(result.egress).toContainEqual(
      expect.objectContaining({ url: unlisted.url, decision: "denied" }),
    );
  });

  it("POST /v1/tools/types declares MCP tools from tools/list and callback tools from their schemas", async () => {
    const res = await server.call("/v1/tools/types", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        tools: {
          remote: { mcp: { url: mcp.url } },
          codemode: {
            greet: {
              description: "Greets someone",
              inputSchema: {
                type: "object",
                properties: { name: { type: "string" }, times: { type: "integer" } },
                required: ["name"],
              },
            },
          },
        },
      }),
    });
    expect(res.status).toBe(200);
    const { typescript } = (await res.json()) as { typescript: string };
    expect(typescript).toContain("declare const remote: {");
    expect(typescript).toMatch(
      /add\(args: \{\s+\/\*\* first \*\/\s+a: number;\s+b: number;\s+\}\): Promise<\{\s+sum: number;\s+\}>;/,
    );
    expect(typescript).toContain("/** Always fails */");
    expect(typescript).toContain("declare const codemode: {");
    expect(typescript).toMatch(
      /greet\(args: \{\s+name: string;\s+times\?: number;\s+\}\): Promise<unknown>;/,
    );
  });

  it("Cordon's own MCP execute tool takes MCP namespaces, and refuses callback ones", async () => {
    const client = new Client({ name: "cordon-e2e", version: "1.0.0" });
    await client.connect(
      new StreamableHTTPClientTransport(new URL("/mcp", server.url), {
        requestInit: { headers: { authorization: `Bearer ${E2E_KEY}` } },
      }),
    );
    try {
      const ran = await client.callTool({
        name: "execute",
        arguments: {
          code: "(await remote.add({ a: 20, b: 22 })).sum",
          tools: { remote: { mcp: { url: mcp.url } } },
        },
      });
      expect(ran.isError).toBeFalsy();
      expect(ran.structuredContent).toMatchObject({ status: "ok", result: 42 });
      const refused = await client.callTool({
        name: "execute",
        arguments: { code: "1", tools: { codemode: { add: {} } } },
      });
      expect(refused.isError).toBe(true);
      expect(JSON.stringify(refused.content)).toMatch(/only MCP servers here/);
    } finally {
      await client.close();
    }
  });
});
