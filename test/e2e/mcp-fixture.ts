// An MCP server on loopback, built with the official SDK (Streamable HTTP, stateless): the remote
// server that guest code reaches through Cordon's `tools` in the MCP tests.
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { z } from "zod";

export interface McpFixture {
  origin: string;
  url: string;
  /** The headers of every request the server got, in order. */
  seen: IncomingHttpHeaders[];
  close(): Promise<void>;
}

function mcpServer(): McpServer {
  const server = new McpServer({ name: "fixture", version: "1.0.0" });
  server.registerTool(
    "add",
    {
      description: "Adds two numbers",
      inputSchema: { a: z.number().describe("first"), b: z.number() },
      outputSchema: { sum: z.number() },
    },
    ({ a, b }) => ({
      content: [{ type: "text", text: JSON.stringify({ sum: a + b }) }],
      structuredContent: { sum: a + b },
    }),
  );
  server.registerTool(
    "fails",
    { description: "Always fails", inputSchema: { why: z.string() } },
    ({ why }) => ({ content: [{ type: "text", text: `failed: ${why}` }], isError: true }),
  );
  server.registerTool(
    "whoami",
    { description: "Answers the authorization header it got" },
    (extra) => ({
      content: [
        {
          type: "text",
          text: JSON.stringify({ authorization: extra.requestInfo?.headers.authorization ?? null }),
        },
      ],
    }),
  );
  server.registerTool("plain", { description: "Answers plain text" }, () => ({
    content: [{ type: "text", text: "just text" }],
  }));
  return server;
}

/** Starts the fixture on a free loopback port. */
export async function startMcpFixture(): Promise<McpFixture> {
  const seen: IncomingHttpHeaders[] = [];
  const http: Server = createServer(async (req, res) => {
    seen.push(req.headers);
    if (req.url !== "/mcp") {
      res.writeHead(404).end();
      return;
    }
    // Stateless: a server and transport per request, as the SDK's examples do.
    const transport = new StreamableHTTPServerTransport({
      sessionIdGenerator: undefined,
      enableJsonResponse: true,
    });
    const server = mcpServer();
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  const { port } = http.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  return {
    origin,
    url: `${origin}/mcp`,
    seen,
    close: () => new Promise((resolve) => http.close(() => resolve())),
  };
}
