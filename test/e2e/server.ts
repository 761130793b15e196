import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const E2E_KEY = "e2e-dev-key-abcdef0123456789";

/** A running `npm start` server on a free loopback port. */
export interface Server {
  url: string;
  /** Process id of `node host/start.mjs` (the supervisor). */
  pid: number;
  dataDir: string;
  output: () => string;
  /** Sends SIGTERM and resolves with the exit code once the server has stopped. */
  stop(): Promise<number | null>;
  call(path: string, init?: RequestInit): Promise<Response>;
  execute(body: Record<string, unknown>): Promise<ExecutionResult>;
}

export interface ExecutionResult {
  executionId: string;
  status: string;
  result?: unknown;
  error?: { name: string; message: string; line?: number; column?: number; stack?: string };
  logs: { level: string; message: string; truncated?: boolean }[];
  egress: {
    method: string;
    url: string;
    decision: string;
    reason: string;
    status?: number;
    bytes?: number;
    ms?: number;
  }[];
  redactions?: { kind: string; where: string }[];
  usage: { wallMs: number; subrequests: number };
  packages?: { name: string; version: string; integrity: string }[];
}

/** Finds a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      const port = typeof address === "object" && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/** Starts the self-hosted server the way `npm start` does (the bundle is built by `npm test`). */
export async function startServer(
  env: Record<string, string> = {},
  dataDir = mkdtempSync(join(tmpdir(), "cordon-e2e-")),
): Promise<Server> {
  const port = await freePort();
  let output = "";
  const child: ChildProcess = spawn(process.execPath, ["host/start.mjs", "--no-build"], {
    env: {
      ...process.env,
      HOST: "127.0.0.1",
      PORT: String(port),
      CORDON_DATA_DIR: dataDir,
      CORDON_DEV_API_KEY: E2E_KEY,
      CORDON_DEV_POLICY: JSON.stringify({
        limits: { rate: 10_000, burst: 10_000, concurrency: 256 },
      }),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.on("data", (chunk) => {
    output += chunk;
  });
  child.stderr?.on("data", (chunk) => {
    output += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited early:\n${output}`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`server did not answer within 30 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const call = (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has("authorization")) headers.set("authorization", `Bearer ${E2E_KEY}`);
    return fetch(`${url}${path}`, { ...init, headers });
  };
  return {
    url,
    pid: child.pid ?? 0,
    dataDir,
    output: () => output,
    call,
    async execute(body) {
      const res = await call("/v1/execute", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (res.status !== 200) throw new Error(`status ${res.status}: ${await res.text()}`);
      return (await res.json()) as ExecutionResult;
    },
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** Processes whose parent is `pid`, as pid → command line. */
export function childrenOf(pid: number): Map<number, string> {
  const found = new Map<number, string>();
  for (const entry of readdirSync("/proc").filter((e) => /^\d+$/.test(e))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent === pid) {
        found.set(
          Number(entry),
          readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " "),
        );
      }
    } catch {
      // The process ended while it was read.
    }
  }
  return found;
}
