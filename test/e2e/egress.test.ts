import {
  createServer as createHttpServer,
  type Server as HttpServer,
  type IncomingMessage,
} from "node:http";
import { createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
// @ts-expect-error: the config generator is plain ESM JavaScript without type declarations.
import { internetService } from "../../host/config.mjs";
import { type ExecutionResult, type Server, startServer } from "./server";

const SECRET = "tok_e2e_Hq7Lm2Vx9Rk4Wd8Zp3Ny6Bs1";
const LIMITS = { rate: 10_000, burst: 10_000, concurrency: 256 };

interface Seen {
  method: string;
  url: string;
  authorization?: string;
  body: string;
}

interface Upstream {
  port: number;
  origin: string;
  seen: Seen[];
  server: HttpServer;
}

async function readBody(req: IncomingMessage): Promise<string> {
  let body = "";
  for await (const chunk of req) body += chunk;
  return body;
}

/** A loopback HTTP upstream that records what reached it. */
async function startUpstream(): Promise<Upstream> {
  const seen: Seen[] = [];
  const server = createHttpServer(async (req, res) => {
    const body = await readBody(req);
    const authorization = req.headers.authorization;
    seen.push({ method: req.method ?? "", url: req.url ?? "", authorization, body });
    const token = authorization?.replace(/^Bearer /, "") ?? "";
    switch (req.url?.split("?")[0]) {
      case "/echo":
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ method: req.method, url: req.url, body }));
        return;
      case "/leak":
        // Everything a careless (or hostile) upstream could hand the secret back in.
        res.setHeader("x-token", token);
        res.setHeader("x-token-b64", Buffer.from(token).toString("base64"));
        res.end(
          `plain=${token} b64=${Buffer.from(`user:${token}`).toString("base64")} url=${encodeURIComponent(token)}`,
        );
        return;
      case "/to-metadata":
        res.writeHead(302, { location: "http://169.254.169.254/latest/meta-data/" });
        res.end();
        return;
      case "/to-unlisted":
        res.writeHead(302, {
          location: `http://localhost:${(server.address() as { port: number }).port}/echo`,
        });
        res.end();
        return;
      default:
        res.end("ok");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return { port, origin: `http://127.0.0.1:${port}`, seen, server };
}

/** A loopback TCP server that answers each chunk with "echo:" and the chunk. */
async function startEcho(): Promise<{ port: number; server: TcpServer }> {
  const server = createTcpServer((socket) => {
    socket.on("data", (chunk) => socket.write(`echo:${chunk}`));
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as { port: number }).port, server };
}

let bound: Upstream;
let other: Upstream;
let echo: { port: number; server: TcpServer };
let server: Server;

beforeAll(async () => {
  bound = await startUpstream();
  other = await startUpstream();
  echo = await startEcho();
  server = await startServer({
    CORDON_ALLOW_PRIVATE_EGRESS: "1",
    CORDON_DEV_POLICY: JSON.stringify({
      egress: { allow: [bound.origin, other.origin, { host: "127.0.0.1", port: echo.port }] },
      limits: LIMITS,
    }),
    CORDON_DEV_SECRETS: JSON.stringify({ API_TOKEN: { value: SECRET, hosts: [bound.origin] } }),
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  bound?.server.close();
  other?.server.close();
  echo?.server.close();
});

function expectNoSecret(result: ExecutionResult): void {
  const text = JSON.stringify(result);
  expect(text).not.toContain(SECRET);
  expect(text).not.toContain(Buffer.from(SECRET).toString("base64").slice(0, 24));
}

describe("egress through npm start (runner processes, private egress enabled)", () => {
  it("sends an allowed request to a loopback upstream and audits it", async () => {
    const r = await server.execute({
      code: `const res = await fetch("${bound.origin}/echo?x=1", { method: "POST", body: "hi" });
[res.status, await res.json()]`,
    });
    expect(r.status).toBe("ok");
    expect(r.result).toEqual([200, { method: "POST", url: "/echo?x=1", body: "hi" }]);
    expect(r.egress).toEqual([
      expect.objectContaining({
        method: "POST",
        url: `${bound.origin}/echo?x=1`,
        decision: "allowed",
        reason: `allowed by rule ${bound.origin}`,
        status: 200,
        bytes: expect.any(Number),
        ms: expect.any(Number),
      }),
    ]);
    expect(r.usage.subrequests).toBe(1);
  });

  it("injects the secret on its bound host and refuses its placeholder on another", async () => {
    const before = other.seen.length;
    const r = await server.execute({
      code: `const token = process.env.API_TOKEN;
await fetch("${bound.origin}/echo", { headers: { authorization: "Bearer " + token } });
let refused;
try { await fetch("${other.origin}/echo", { headers: { authorization: "Bearer " + token } }) }
catch (e) { refused = [e.name, e.message] }
({ token, refused })`,
    });
    const result = r.result as { token: string; refused: [string, string] };
    expect(result.token).toMatch(/^cordon-secret-API_TOKEN-[0-9a-f]{32}$/);
    expect(result.refused).toEqual([
      "TypeError",
      `egress is not allowed: GET ${other.origin}/echo: secret API_TOKEN not bound to host`,
    ]);
    expect(bound.seen.at(-1)?.authorization).toBe(`Bearer ${SECRET}`);
    expect(other.seen.length).toBe(before);
    expect(r.egress.map((a) => [a.decision, a.reason])).toEqual([
      ["allowed", `allowed by rule ${bound.origin}`],
      ["denied", "secret API_TOKEN not bound to host"],
    ]);
    expectNoSecret(r);
  });

  it("never lets a secret the upstream echoes back reach the guest, its logs or its result", async () => {
    const r = await server.execute({
      code: `const res = await fetch("${bound.origin}/leak", { headers: { authorization: "Bearer " + process.env.API_TOKEN } });
const body = await res.text();
console.log(body, res.headers.get("x-token"), res.headers.get("x-token-b64"));
const seen = [body, res.headers.get("x-token"), res.headers.get("x-token-b64")];
({ seen, hasIt: seen.some((s) => s.includes("${SECRET.slice(0, 12)}")) })`,
    });
    expect(r.status).toBe("ok");
    expectNoSecret(r);
    const result = r.result as { seen: string[]; hasIt: boolean };
    expect(result.hasIt).toBe(false);
    expect(result.seen[0]).toMatch(
      /^plain=\[REDACTED:secret\] b64=\S*\[REDACTED:secret\]\S* url=\[REDACTED:secret\]$/,
    );
    expect(result.seen[1]).toBe("[REDACTED:secret]");
    expect(result.seen[2]).toBe("[REDACTED:secret]");
    expect(r.logs[0]?.message).toContain("[REDACTED:secret]");
  });

  it("denies a redirect to an internal or unlisted host at that hop", async () => {
    const r = await server.execute({
      code: `const out = [];
for (const path of ["/to-metadata", "/to-unlisted"]) {
  try { await fetch("${bound.origin}" + path); out.push("followed") } catch (e) { out.push(e.message) }
}
out`,
    });
    expect(r.result).toEqual([
      expect.stringContaining("http://169.254.169.254/latest/meta-data/"),
      expect.stringContaining(`no rule allows localhost`),
    ]);
    expect(r.egress.map((a) => [a.url, a.decision])).toEqual([
      [`${bound.origin}/to-metadata`, "allowed"],
      ["http://169.254.169.254/latest/meta-data/", "denied"],
      [`${bound.origin}/to-unlisted`, "allowed"],
      [`http://localhost:${bound.port}/echo`, "denied"],
    ]);
  });

  it("denies the fetches of a flood past the subrequest cap with a TypeError and goes on", async () => {
    const r = await server.execute({
      code: `const errors = [];
let sent = 0;
for (let i = 0; i < 60; i++) {
  try { await fetch("${bound.origin}/flood/" + i); sent++ } catch (e) { errors.push(e.name + ": " + e.message) }
}
({ sent, errors: errors.length, first: errors[0], after: "went on" })`,
    });
    expect(r.status).toBe("ok");
    expect(r.result).toEqual({
      sent: 50,
      errors: 10,
      first: `TypeError: egress is not allowed: GET ${bound.origin}/flood/50: subrequest cap of 50 per execution reached`,
      after: "went on",
    });
    expect(r.egress).toHaveLength(60);
    expect(r.egress[50]).toMatchObject({
      decision: "denied",
      reason: "subrequest cap of 50 per execution reached",
    });
    expect(r.usage.subrequests).toBe(50);
  });

  it("opens an allowed TCP socket through the gateway and denies a port no rule names", async () => {
    const r = await server.execute({
      code: `import { connect } from "cloudflare:sockets";
const socket = connect({ hostname: "127.0.0.1", port: ${echo.port} });
await socket.opened;
const writer = socket.writable.getWriter();
await writer.write(new TextEncoder().encode("ping"));
const reader = socket.readable.getReader();
const { value } = await reader.read();
await socket.close();
let denied;
try { await connect("127.0.0.1:9").opened } catch (e) { denied = e.message }
({ got: new TextDecoder().decode(value), denied })`,
    });
    expect(r.status).toBe("ok");
    expect(r.result).toEqual({
      got: "echo:ping",
      denied: "egress is not allowed: CONNECT tcp://127.0.0.1:9: port 9 not allowed for 127.0.0.1",
    });
    expect(r.egress.map((a) => [a.method, a.url, a.decision])).toEqual([
      ["CONNECT", `tcp://127.0.0.1:${echo.port}`, "allowed"],
      ["CONNECT", "tcp://127.0.0.1:9", "denied"],
    ]);
    expect(r.egress[0]?.bytes).toBe("echo:ping".length);
  });

  it("audits and denies a socket opened around the gateway (node:net)", async () => {
    const r = await server.execute({
      code: `import net from "node:net";
await new Promise((resolve) => {
  const s = net.connect(${echo.port}, "127.0.0.1");
  s.on("error", resolve);
  s.on("close", resolve);
  s.on("data", resolve);
});
"done"`,
    });
    expect(r.status).toBe("ok");
    expect(r.egress).toEqual([
      expect.objectContaining({
        method: "CONNECT",
        url: `tcp://127.0.0.1:${echo.port}`,
        decision: "denied",
      }),
    ]);
  });
});

describe("egress without CORDON_ALLOW_PRIVATE_EGRESS", () => {
  let strict: Server;
  let upstream: Upstream;

  beforeAll(async () => {
    upstream = await startUpstream();
    strict = await startServer({
      CORDON_DEV_POLICY: JSON.stringify({ egress: { allow: [upstream.origin] }, limits: LIMITS }),
    });
  }, 120_000);

  afterAll(async () => {
    await strict?.stop();
    upstream?.server.close();
  });

  it("denies a loopback URL even when a rule names it", async () => {
    const r = await strict.execute({
      code: `let m;\ntry { await fetch("${upstream.origin}/echo") } catch (e) { m = [e.name, e.message] }\nm`,
    });
    expect(r.result).toEqual([
      "TypeError",
      `egress is not allowed: GET ${upstream.origin}/echo: private address 127.0.0.1 is not allowed (loopback)`,
    ]);
    expect(upstream.seen).toHaveLength(0);
  });

  it("restricts the control plane's network to public addresses unless private egress is on", () => {
    expect(internetService(false)).toMatch(
      /allow = \["public"\], deny = \[[^\]]*"169\.254\.0\.0\/16"/,
    );
    expect(internetService(true)).toContain('allow = ["public", "private", "local"]');
  });
});
