import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_KEY, type Server, startServer } from "./server";

const ADMIN_TOKEN = "e2e-admin-token-0123456789abcdef";

let server: Server;
beforeAll(async () => {
  server = await startServer({ CORDON_ADMIN_TOKEN: ADMIN_TOKEN });
});
afterAll(async () => {
  await server?.stop();
});

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Sends bytes exactly as given over a fresh loopback connection and reads the whole answer. */
function rawRequest(text: string): Promise<RawAnswer> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.setTimeout(20_000, () => socket.destroy(new Error("no answer within 20 s")));
    socket.on("data", (chunk) => chunks.push(chunk));
    socket.on("error", reject);
    socket.on("close", () => {
      const answer = Buffer.concat(chunks).toString("utf8");
      const split = answer.indexOf("\r\n\r\n");
      const [statusLine = "", ...lines] = answer.slice(0, split).split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(":");
        headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({
        status: Number(statusLine.split(" ")[1]),
        headers,
        body: answer.slice(split + 4),
      });
    });
    socket.end(text);
  });
}

/** A request whose body is one chunk carrying an `extensionBytes`-long chunk extension. */
function chunked(
  method: string,
  path: string,
  body: string,
  extensionBytes: number,
  headers: Record<string, string>,
): string {
  const head = Object.entries({ host: "127.0.0.1", ...headers, "transfer-encoding": "chunked" })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  const extension = extensionBytes > 0 ? `;x=${"a".repeat(extensionBytes - 3)}` : "";
  const size = Buffer.byteLength(body).toString(16);
  return `${method} ${path} HTTP/1.1\r\n${head}connection: close\r\n\r\n${size}${extension}\r\n${body}\r\n0\r\n\r\n`;
}

const asTenant = { authorization: `Bearer ${E2E_KEY}`, "content-type": "application/json" };

function expectProblem(answer: RawAnswer, status: number) {
  expect(answer.status, answer.body).toBe(status);
  expect(answer.headers["content-type"]).toBe("application/problem+json");
  expect(JSON.parse(answer.body)).toMatchObject({ status });
}

describe("chunked request bodies", () => {
  it("runs code sent in a chunk with a short extension", async () => {
    const answer = await rawRequest(
      chunked("POST", "/v1/execute", '{"code":"1 + 1"}', 1024, asTenant),
    );
    expect(answer.status, answer.body).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject({ status: "ok", result: 2 });
  });

  it("answers a 20 KB chunk extension with 400 problem+json", async () => {
    const answer = await rawRequest(
      chunked("POST", "/v1/execute", '{"code":"1 + 1"}', 20_000, asTenant),
    );
    expectProblem(answer, 400);
    expect(JSON.parse(answer.body).detail).toContain("could not be read");
  });

  it("answers a 20 KB chunk extension on a session file with 400", async () => {
    const created = await server.call("/v1/sessions", { method: "POST" });
    const { sessionId } = (await created.json()) as { sessionId: string };
    const answer = await rawRequest(
      chunked("PUT", `/v1/sessions/${sessionId}/files/a.txt`, "hello", 20_000, {
        authorization: `Bearer ${E2E_KEY}`,
        "content-type": "application/octet-stream",
      }),
    );
    expectProblem(answer, 400);
  });

  it("answers a 20 KB chunk extension on an admin route with 400", async () => {
    const answer = await rawRequest(
      chunked("POST", "/v1/admin/tenants", '{"id":"chunky"}', 20_000, {
        authorization: `Bearer ${ADMIN_TOKEN}`,
        "content-type": "application/json",
      }),
    );
    expectProblem(answer, 400);
  });

  it("answers a chunked body over the size limit with 413", async () => {
    const code = "x".repeat(3 * 1024 * 1024 + 1);
    const answer = await rawRequest(
      chunked("POST", "/v1/execute", JSON.stringify({ code }), 0, asTenant),
    );
    expectProblem(answer, 413);
  });
});

describe("deeply nested input", () => {
  const deep = (depth: number) => `${"[".repeat(depth)}0${"]".repeat(depth)}`;

  it("runs input nested 100 levels deep, in a runner process", async () => {
    const res = await server.call("/v1/execute", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: `{"code":"let d = 0; for (let v = input; Array.isArray(v); v = v[0]) d++; d","input":${deep(100)}}`,
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: "ok", result: 100 });
  });

  it("answers input nested 10,000 deep with 400 naming the limit", async () => {
    const res = await server.call("/v1/execute", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: `{"code":"1","input":${deep(10_000)}}`,
    });
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toBe("application/problem+json");
    expect((await res.json()) as { detail: string }).toMatchObject({
      detail: expect.stringContaining("at most 100 levels deep"),
    });
  });

  it("answers input nested 10,000 deep through MCP as a tool error", async () => {
    const res = await server.call("/mcp", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
      },
      body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"execute","arguments":{"code":"1","input":${deep(10_000)}}}}`,
    });
    expect(res.status).toBe(200);
    const message = (await res.json()) as {
      result: { isError: boolean; content: { text: string }[] };
    };
    expect(message.result.isError).toBe(true);
    expect(message.result.content[0]?.text).toContain("at most 100 levels deep");
  });
});
