// A fetch that fails at the network says what failed, to the guest and in the audit: workerd
// itself answers "internal error; reference = …" for a name that does not resolve or a TLS
// handshake that fails, and "Network connection lost." for a refused connection.
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createTcpServer, type Server as TcpServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort, type Server, startServer } from "./server";

let server: Server;
let plainHttp: HttpServer;
let hangsUp: TcpServer;
let ports: { refused: number; plainHttp: number; hangsUp: number };

beforeAll(async () => {
  ports = { refused: await freePort(), plainHttp: await freePort(), hangsUp: await freePort() };
  plainHttp = createHttpServer((_req, res) => res.end("plain http"));
  hangsUp = createTcpServer((socket) => socket.destroy());
  await new Promise<void>((r) => plainHttp.listen(ports.plainHttp, "127.0.0.1", r));
  await new Promise<void>((r) => hangsUp.listen(ports.hangsUp, "127.0.0.1", r));
  server = await startServer({
    CORDON_ALLOW_PRIVATE_EGRESS: "1",
    CORDON_DEV_POLICY: JSON.stringify({
      limits: { rate: 10_000, burst: 10_000, concurrency: 256 },
      egress: {
        allow: [
          "http://nonexistent.invalid",
          `http://127.0.0.1:${ports.refused}`,
          `https://127.0.0.1:${ports.plainHttp}`,
          `http://127.0.0.1:${ports.hangsUp}`,
        ],
      },
    }),
  });
});

afterAll(async () => {
  await server?.stop();
  plainHttp?.close();
  hangsUp?.close();
});

/** Fetches `url` in the guest and answers the TypeError it caught and the audit's reason. */
async function failedFetch(url: string) {
  const run = await server.execute({
    code: `try { await fetch(${JSON.stringify(url)}); "no error" } catch (err) { [err.constructor.name, err.message] }`,
  });
  expect(run.status).toBe("ok");
  expect(run.egress).toHaveLength(1);
  const [name, message] = run.result as [string, string];
  expect(name).toBe("TypeError");
  return { message, audit: run.egress[0]?.reason ?? "" };
}

describe("a fetch that fails at the network", () => {
  it("names a host that does not resolve", async () => {
    const { message, audit } = await failedFetch("http://nonexistent.invalid/");
    expect(message).toBe(
      "GET http://nonexistent.invalid/ failed: the host name did not resolve (DNS), or no address of it can be reached",
    );
    expect(audit).toContain("the request failed: the host name did not resolve (DNS)");
    expect(message + audit).not.toContain("internal error");
  });

  it("names a refused connection", async () => {
    const url = `http://127.0.0.1:${ports.refused}/`;
    const { message, audit } = await failedFetch(url);
    expect(message).toBe(`GET ${url} failed: the connection was refused`);
    expect(audit).toContain("the request failed: the connection was refused");
  });

  it("names a server that hangs up without answering", async () => {
    const url = `http://127.0.0.1:${ports.hangsUp}/`;
    const { message } = await failedFetch(url);
    expect(message).toBe(`GET ${url} failed: the server closed the connection without an answer`);
  });

  it("names a failed TLS handshake", async () => {
    const url = `https://127.0.0.1:${ports.plainHttp}/`;
    const { message, audit } = await failedFetch(url);
    expect(message).toBe(`GET ${url} failed: the TLS handshake failed`);
    expect(audit).toContain("the request failed: the TLS handshake failed");
  });
});
