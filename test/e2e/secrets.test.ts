import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
} from "node:http";
import { createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { brotliCompressSync, deflateSync, gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ExecutionResult, type Server, startServer } from "./server";

// Percent-encoding its hyphens (`%2D`) is a spelling encodeURIComponent never makes.
const SECRET = "s3cr3t-VALUE-123-e2e";
const LIMITS = { rate: 10_000, burst: 10_000, concurrency: 256 };

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: string;
}

interface Upstream {
  origin: string;
  seen: Seen[];
  server: HttpServer;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `text` as base64 wrapped at 76 columns with CRLF, as MIME writes it. */
function mimeBase64(text: string): string {
  return (
    Buffer.from(text)
      .toString("base64")
      .match(/.{1,76}/g) ?? []
  ).join("\r\n");
}

/**
 * A loopback upstream that hands back what it is sent in every way a careless (or hostile) one
 * could: compressed, redirected elsewhere, stored and read back in ranges, escaped, wrapped.
 */
async function startUpstream(redirectTo: () => string): Promise<Upstream> {
  const seen: Seen[] = [];
  let stored: Buffer = Buffer.alloc(0);
  const server = createHttpServer(async (req, res) => {
    const body = await readBody(req);
    seen.push({
      method: req.method ?? "",
      url: req.url ?? "",
      headers: req.headers,
      body: `${body}`,
    });
    const token = req.headers.authorization?.replace(/^Bearer /, "") ?? "";
    const url = new URL(req.url ?? "/", "http://upstream");
    switch (url.pathname) {
      case "/compressed": {
        const encoding = url.searchParams.get("encoding") ?? "";
        const plain = Buffer.from(`token=${token}`);
        const encoded: Record<string, Buffer> = {
          gzip: gzipSync(plain),
          "x-gzip": gzipSync(plain),
          GZIP: gzipSync(plain),
          deflate: deflateSync(plain),
          "gzip, gzip": gzipSync(gzipSync(plain)),
          br: brotliCompressSync(plain),
          zstd: Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0]),
        };
        res.setHeader("content-encoding", encoding);
        res.end(encoded[encoding]);
        return;
      }
      case "/login":
        res.writeHead(302, {
          location: `${redirectTo()}/callback?code=${token.replaceAll("-", "%2D")}`,
        });
        res.end();
        return;
      case "/paste": {
        if (req.method === "PUT") {
          stored = body;
          res.writeHead(204).end();
          return;
        }
        const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
        if (!range) {
          res.end(stored);
          return;
        }
        const [from, to] = [Number(range[1]), Number(range[2])];
        res.writeHead(206, { "content-range": `bytes ${from}-${to}/${stored.length}` });
        res.end(stored.subarray(from, to + 1));
        return;
      }
      case "/escaped":
        res.setHeader("content-type", "application/json");
        res.end(
          JSON.stringify({
            escaped: [...token]
              .map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)
              .join(""),
            mime: mimeBase64(`${"x".repeat(50)}${token}`),
          }).replaceAll("\\\\u", "\\u"),
        );
        return;
      default:
        res.end("ok");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return { origin: `http://127.0.0.1:${port}`, seen, server };
}

/** A loopback TCP server that keeps everything it is sent and echoes it. */
async function startEcho(): Promise<{ port: number; received: () => string; server: TcpServer }> {
  let received = "";
  const server = createTcpServer((socket) => {
    socket.on("data", (chunk) => {
      received += chunk;
      socket.write(chunk);
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as { port: number }).port, received: () => received, server };
}

let bound: Upstream;
let other: Upstream;
let echo: Awaited<ReturnType<typeof startEcho>>;
let server: Server;

beforeAll(async () => {
  other = await startUpstream(() => "");
  bound = await startUpstream(() => other.origin);
  echo = await startEcho();
  server = await startServer({
    CORDON_ALLOW_PRIVATE_EGRESS: "1",
    CORDON_DEV_POLICY: JSON.stringify({
      egress: { allow: [bound.origin, other.origin, { host: "127.0.0.1", port: echo.port }] },
      limits: LIMITS,
    }),
    CORDON_DEV_SECRETS: JSON.stringify({
      API_TOKEN: { value: SECRET, hosts: [bound.origin], in: ["header", "body"] },
    }),
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  bound?.server.close();
  other?.server.close();
  echo?.server.close();
});

const AUTHED = '{ headers: { authorization: "Bearer " + process.env.API_TOKEN } }';

function expectNoSecret(result: ExecutionResult): void {
  const text = JSON.stringify(result);
  for (const form of [SECRET, SECRET.replaceAll("-", "%2D"), SECRET.slice(0, 10)]) {
    expect(text).not.toContain(form);
  }
}

describe("secrets through npm start", () => {
  it("refuses a redirect that takes the value percent-encoded to a host it is not bound to, and never shows it", async () => {
    const before = other.seen.length;
    const r = await server.execute({
      code: `let out;
try { await fetch("${bound.origin}/login", ${AUTHED}) } catch (e) { out = [e.name, e.message] }
out`,
    });
    expect(r.result).toEqual([
      "TypeError",
      `egress is not allowed: GET ${other.origin}/callback?code=[REDACTED:secret]: the value of secret API_TOKEN is in the url of a request to a host it is not bound to`,
    ]);
    expect(other.seen.length).toBe(before);
    expect(r.egress.map((a) => [a.url, a.decision])).toEqual([
      [`${bound.origin}/login`, "allowed"],
      [`${other.origin}/callback?code=[REDACTED:secret]`, "denied"],
    ]);
    expectNoSecret(r);
  });

  it("asks a request that carries a secret for the whole answer, unencoded", async () => {
    await server.execute({
      code: `await fetch("${bound.origin}/plain", { headers: { authorization: "Bearer " + process.env.API_TOKEN, "accept-encoding": "gzip, br", range: "bytes=0-3" } })`,
    });
    const last = bound.seen.at(-1);
    expect(last?.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(last?.headers["accept-encoding"]).toBe("identity");
    expect(last?.headers.range).toBeUndefined();
  });

  it("decodes gzip, x-gzip, GZIP, deflate and stacked gzip before scrubbing, and refuses br and zstd", async () => {
    const encodings = ["gzip", "x-gzip", "GZIP", "deflate", "gzip, gzip", "br", "zstd"];
    const r = await server.execute({
      code: `const out = {};
for (const encoding of ${JSON.stringify(encodings)}) {
  try {
    const res = await fetch("${bound.origin}/compressed?encoding=" + encodeURIComponent(encoding), ${AUTHED});
    out[encoding] = [res.headers.get("content-encoding"), await res.text()];
  } catch (e) { out[encoding] = e.message }
}
out`,
    });
    expect(r.status).toBe("ok");
    const scrubbed = [null, "token=[REDACTED:secret]"];
    expect(r.result).toEqual({
      gzip: scrubbed,
      "x-gzip": scrubbed,
      GZIP: scrubbed,
      deflate: scrubbed,
      "gzip, gzip": scrubbed,
      br: `GET ${bound.origin}/compressed?encoding=br failed: the response is in an encoding the gateway cannot decode and scrub (br)`,
      zstd: `GET ${bound.origin}/compressed?encoding=zstd failed: the response is in an encoding the gateway cannot decode and scrub (zstd)`,
    });
    expect(r.egress.at(-1)?.reason).toBe(
      `allowed by rule ${bound.origin}; the response was refused: the response is in an encoding the gateway cannot decode and scrub (zstd)`,
    );
    expectNoSecret(r);
  });

  it("never hands back a value it put in a body a few bytes at a time through Range", async () => {
    const r = await server.execute({
      code: `await fetch("${bound.origin}/paste", { method: "PUT", body: process.env.API_TOKEN });
let pieces = "";
for (let at = 0; at < 24; at += 4) {
  const res = await fetch("${bound.origin}/paste", { headers: { range: "bytes=" + at + "-" + (at + 3) } });
  pieces += res.status + ":" + await res.text() + "|";
}
pieces`,
    });
    expect(bound.seen.find((s) => s.method === "PUT")?.body).toBe(SECRET);
    expect(r.result).toBe("200:[REDACTED:secret]|".repeat(6));
  });

  it("scrubs a reflection in JSON \\u escapes and in MIME-wrapped base64", async () => {
    const r = await server.execute({
      code: `const json = await (await fetch("${bound.origin}/escaped", ${AUTHED})).json();
({ escaped: json.escaped, mime: json.mime.replace(/\\r\\n/g, "") })`,
    });
    expect(r.status).toBe("ok");
    const result = r.result as { escaped: string; mime: string };
    expect(result.escaped).toBe("[REDACTED:secret]");
    expect(result.mime).toContain("[REDACTED:secret]");
    // No run of base64 characters that encode the value alone, at any of its three alignments.
    for (let offset = 0; offset < 3; offset++) {
      const core = Buffer.concat([Buffer.alloc(offset), Buffer.from(SECRET)])
        .toString("base64")
        .slice(Math.ceil((8 * offset) / 6) + 1, -3);
      for (let i = 0; i + 8 <= core.length; i++) {
        expect(result.mime).not.toContain(core.slice(i, i + 8));
      }
    }
    expectNoSecret(r);
  });

  it("refuses the placeholder of a secret whose binding leaves out the url", async () => {
    const r = await server.execute({
      code: `let out;
try { await fetch("${bound.origin}/q?key=" + process.env.API_TOKEN) } catch (e) { out = e.message }
out`,
    });
    expect(r.result).toMatch(
      /: secret API_TOKEN may not go in the url \(its binding allows header, body\)$/,
    );
  });

  it("closes a socket a secret's value or placeholder is written to, and audits it", async () => {
    const r = await server.execute({
      code: `import { connect } from "cloudflare:sockets";
const out = [];
async function send(...parts) {
  const socket = connect({ hostname: "127.0.0.1", port: ${echo.port} });
  await socket.opened;
  const writer = socket.writable.getWriter();
  const reader = socket.readable.getReader();
  let got = "";
  try {
    for (const part of parts) await writer.write(new TextEncoder().encode(part));
    const { value, done } = await reader.read();
    got = done ? "closed" : new TextDecoder().decode(value);
  } catch (e) { got = e.name }
  await socket.close().catch(() => {});
  return got;
}
out.push(await send("hello"));
out.push(await send("token " + process.env.API_TOKEN + "\\n"));
out.push(await send("value ${SECRET.slice(0, 7)}", "${SECRET.slice(7)} end"));
out`,
    });
    expect(r.status).toBe("ok");
    const [hello, placeholder, value] = r.result as string[];
    expect(hello).toBe("hello");
    expect(placeholder).not.toContain("token");
    expect(value).not.toContain("value");
    expect(echo.received()).toBe("hello");
    expect(r.egress.map((a) => [a.method, a.decision, a.reason])).toEqual([
      ["CONNECT", "allowed", `allowed by rule {"host":"127.0.0.1","port":${echo.port}}`],
      ["CONNECT", "allowed", `allowed by rule {"host":"127.0.0.1","port":${echo.port}}`],
      ["CONNECT", "denied", "secret API_TOKEN may never go on a socket"],
      ["CONNECT", "allowed", `allowed by rule {"host":"127.0.0.1","port":${echo.port}}`],
      ["CONNECT", "denied", "the value of secret API_TOKEN was written to a socket"],
    ]);
  });
});
