// `npm start` prints the playground's link with the dev key to a terminal, as notebook servers
// print theirs, and keeps the key out of output that is not a terminal (journals, log files).
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { E2E_KEY, freePort, startServer } from "./server";

const KEY = "e2e-link-key/with+odd=chars-0123456789";
let terminal: ChildProcess | undefined;

afterAll(() => {
  if (terminal?.pid && terminal.exitCode === null) process.kill(-terminal.pid, "SIGKILL");
});

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok;
  } catch {
    return false;
  }
}

describe("npm start's playground link", () => {
  it("names the page without the key when its output is not a terminal", async () => {
    const server = await startServer();
    try {
      expect(server.output()).toContain(
        `cordon: playground: ${server.url}/ (the link with the dev key is printed on a terminal only)`,
      );
      expect(server.output()).not.toContain(E2E_KEY);
    } finally {
      await server.stop();
    }
  });

  it("prints the link with the dev key, URL-encoded, on a terminal", async () => {
    const port = await freePort();
    let output = "";
    // util-linux's script gives the server a pseudo-terminal for its output.
    terminal = spawn(
      "script",
      ["-qfec", `${process.execPath} host/start.mjs --no-build`, "/dev/null"],
      {
        env: {
          ...process.env,
          HOST: "127.0.0.1",
          PORT: String(port),
          CORDON_DEV_API_KEY: KEY,
          CORDON_DATA_DIR: mkdtempSync(join(tmpdir(), "cordon-e2e-")),
        },
        stdio: ["pipe", "pipe", "pipe"],
        detached: true,
      },
    );
    terminal.stdout?.on("data", (chunk) => {
      output += chunk;
    });
    const deadline = Date.now() + 30_000;
    while (!output.includes("playground") && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(output).toContain(
      `cordon: playground for the dev tenant: http://127.0.0.1:${port}/#key=${encodeURIComponent(KEY)}`,
    );
    // The terminal going away takes the server with it.
    process.kill(-(terminal.pid ?? 0), "SIGTERM");
    const gone = Date.now() + 10_000;
    while ((await answers(`http://127.0.0.1:${port}/healthz`)) && Date.now() < gone) {
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(await answers(`http://127.0.0.1:${port}/healthz`)).toBe(false);
  });
});
