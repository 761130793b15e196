import { test as base, expect } from "@playwright/test";
import { E2E_KEY, type Server, startServer } from "../e2e/server";

export { E2E_KEY, expect };

/** Playwright's test with `server` (one `npm start` per worker) and `origins` (what the page asked). */
export const test = base.extend<{ origins: string[] }, { server: Server }>({
  // One real `npm start` server for the worker's tests (the bundle is built by `npm test`).
  server: [
    // biome-ignore lint/correctness/noEmptyPattern: Playwright reads the fixtures it needs from this pattern.
    async ({}, use) => {
      const server = await startServer();
      await use(server);
      await server.stop();
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
