// `npm start` and `npm run dev` as a new user runs them: through npm, configured by PORT, and
// stopped by a SIGTERM to npm itself (a process manager signals the process it started).
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { freePort } from "./server";

/** Processes in process group `group`, as pid → command line. */
function processGroup(group: number): Map<number, string> {
  const found = new Map<number, string>();
  for (const entry of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // A zombie has let go of everything already.
      if (fields[0] !== "Z" && Number(fields[2]) === group) {
        found.set(Number(entry), readFileSync(`/proc/${entry}/cmdline`, "utf8"));
      }
    } catch {
      // The process ended while it was read.
    }
  }
  return found;
}

async function answers(url: string): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2_000) })).ok;
  } catch {
    return false;
  }
}

/** Polls `check` every 200 ms until it holds or `ms` pass; answers whether it held. */
async function within(ms: number, check: () => boolean | Promise<boolean>): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Runs `npm run <script>` in a process group of its own with PORT set, waits for /healthz, sends
 * `signal` to npm alone, and answers whether the port and the whole group were let go within 10 s.
 */
async function startAndTerminate(
  script: string,
  args: string[],
  startMs: number,
  signal: NodeJS.Signals = "SIGTERM",
) {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/healthz`;
  let output = "";
  const npm: ChildProcess = spawn("npm", ["run", script, "--", ...args], {
    env: {
      ...process.env,
      PORT: String(port),
      HOST: "127.0.0.1",
      CORDON_DEV_API_KEY: "e2e-npm-scripts-key-0123456789",
      CORDON_DATA_DIR: `/tmp/cordon-npm-scripts-${port}`,
    },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  npm.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  npm.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  const group = npm.pid ?? 0;
  try {
    const up = await within(startMs, () => answers(url));
    expect(up, `npm run ${script} did not answer on PORT ${port}:\n${output}`).toBe(true);
    // The playground is part of the bundle in every way of running.
    const page = await fetch(`http://127.0.0.1:${port}/`);
    expect(await page.text()).toContain("<title>Cordon playground</title>");
    process.kill(group, signal);
    const portFree = await within(10_000, async () => !(await answers(url)));
    const groupGone = await within(10_000, () => processGroup(group).size === 0);
    return { portFree, groupGone, left: [...processGroup(group).values()], output };
  } finally {
    // Whatever the test saw, nothing it started outlives it.
    if (processGroup(group).size > 0) process.kill(-group, "SIGKILL");
  }
}

describe("npm start", () => {
  it("stops the whole tree, workerd included, when npm itself gets SIGTERM", async () => {
    const stopped = await startAndTerminate("start", ["--no-build"], 30_000);
    expect(stopped.portFree).toBe(true);
    expect(stopped.left).toEqual([]);
    expect(stopped.groupGone).toBe(true);
  });
});

describe("npm start, its npm killed outright", () => {
  it("stops the whole tree within seconds all the same", async () => {
    const stopped = await startAndTerminate("start", ["--no-build"], 30_000, "SIGKILL");
    expect(stopped.portFree).toBe(true);
    expect(stopped.left).toEqual([]);
    expect(stopped.groupGone).toBe(true);
  });
});

describe("npm run dev", () => {
  it("listens on PORT and stops the whole tree when npm gets SIGTERM", async () => {
    const stopped = await startAndTerminate("dev", [], 60_000);
    expect(stopped.portFree).toBe(true);
    expect(stopped.left).toEqual([]);
    expect(stopped.groupGone).toBe(true);
  }, 90_000);
});
