// The HTTP front every Node peer shares, so the peers differ only in how they run code.
import { createServer } from "node:http";

/** Largest request body a peer reads (Cordon's own cap on a request body). */
const MAX_BODY = 3 * 1024 * 1024;

/**
 * Serves `POST /v1/execute` `{ code }` → `{ status, result | error }` and `GET /healthz`, with no
 * auth, on HOST:PORT from the environment. `run(code)` resolves with the result or rejects with
 * the error the code threw.
 */
export function servePeer(name, run) {
  const server = createServer(async (req, res) => {
    const reply = (status, body) => {
      const text = JSON.stringify(body);
      res.writeHead(status, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(text),
      });
      res.end(text);
    };
    if (req.method === "GET" && req.url === "/healthz") return reply(200, { ok: true, peer: name });
    if (req.method !== "POST" || req.url !== "/v1/execute")
      return reply(404, { title: "Not Found" });
    let size = 0;
    const chunks = [];
    for await (const chunk of req) {
      size += chunk.length;
      if (size > MAX_BODY) return reply(413, { title: "Payload Too Large" });
      chunks.push(chunk);
    }
    let code;
    try {
      code = JSON.parse(Buffer.concat(chunks).toString("utf8")).code;
    } catch {}
    if (typeof code !== "string") return reply(400, { title: "Bad Request", detail: "no code" });
    try {
      reply(200, { status: "ok", result: await run(code) });
    } catch (err) {
      reply(200, { status: "error", error: describe(err) });
    }
  });
  // The default keep-alive timeout (5 s) is shorter than a slow peer's queue under load; a closed
  // socket would show up as a load-generator error rather than as latency.
  server.keepAliveTimeout = 60_000;
  const host = process.env.HOST || "127.0.0.1";
  const port = Number(process.env.PORT || 0);
  server.listen(port, host, () => {
    const address = server.address();
    console.log(`${name}: listening on http://${host}:${address.port}`);
  });
  for (const signal of ["SIGTERM", "SIGINT"]) {
    process.on(signal, () => {
      server.close();
      server.closeAllConnections();
      process.exit(0);
    });
  }
  return server;
}

/** `{ name, message }` of anything thrown, whatever its type. */
export function describe(err) {
  if (err && typeof err === "object") {
    return {
      name: typeof err.name === "string" ? err.name : "Error",
      message: typeof err.message === "string" ? err.message : String(err),
    };
  }
  return { name: "Error", message: String(err) };
}
