import { createServer } from "node:http";
import { test as base, expect } from "@playwright/test";
import { E2E_KEY, type Server, startServer } from "../e2e/server";

export { E2E_KEY, expect };

/** A running server and the loopback upstream its dev tenant may reach. */
export interface Playground extends Server {
  /** `http://127.0.0.1:<port>`, answering `/hello` with 200 and anything else with 404. */
  upstream: string;
}

/** Playwright's test with `server` (one `npm start` per worker) and `origins` (what the page asked). */
export const test = base.extend<{ origins: string[] }, { server: Playground }>({
  // One real `npm start` server for the worker's tests (the bundle is built by `npm test`).
  server: [
    // biome-ignore lint/correctness/noEmptyPattern: Playwright reads the fixtures it needs from this pattern.
    async ({}, use) => {
      const upstream = createServer((req, res) => {
        res.statusCode = req.url === "/hello" ? 200 : 404;
        res.end("hello from upstream");
      });
      await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
      const address = upstream.address();
      const origin = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
      const server = await startServer({
        CORDON_ALLOW_PRIVATE_EGRESS: "1",
        CORDON_DEV_POLICY: JSON.stringify({
          limits: { rate: 10_000, burst: 10_000, concurrency: 256 },
          egress: { allow: [origin] },
        }),
      });
      await use({ ...server, upstream: origin });
      await server.stop();
      upstream.close();
    },
    { scope: "worker", timeout: 60_000 },
  ],
  // Every origin the page asked anything of, to hold it to its own server.
  origins: async ({ page }, use) => {
    const origins: string[] = [];
    page.on("request", (request) => {
      const origin = new URL(request.url()).origin;
      if (!origins.includes(origin)) origins.push(origin);
    });
    await use(origins);
  },
});

/** The `#key=…&code=…&lang=…&run=1` link for `code`. */
export function link(server: Server, code: string, lang = "javascript", run = true): string {
  const encoded = Buffer.from(code, "utf8").toString("base64url");
  return `${server.url}/#key=${encodeURIComponent(E2E_KEY)}&code=${encoded}&lang=${lang}${run ? "&run=1" : ""}`;
}
