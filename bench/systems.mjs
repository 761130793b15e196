// Starts and stops what the benchmark measures: Cordon's self-hosted server, the peers and the
// fetch workload's upstream, each as its own process on a free loopback port.
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { cpus, tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * The project's Node 22 (the `node` devDependency), whatever Node runs the harness: isolated-vm's
 * binary is built for its ABI and wrangler needs Node ≥ 22.
 */
export const NODE = existsSync(join(ROOT, "node_modules/node/bin/node"))
  ? join(ROOT, "node_modules/node/bin/node")
  : process.execPath;

/** The peers, by name: the script that serves each. */
export const PEERS = {
  "raw-workerd": "bench/peers/raw-workerd/index.mjs",
  "isolated-vm": "bench/peers/isolated-vm.mjs",
  "child-process": "bench/peers/child-process.mjs",
};

/** The Python peers, by name: they run the Python workloads only (and the JavaScript peers none). */
export const PYTHON_PEERS = {
  "node-pyodide": "bench/peers/node-pyodide.mjs",
  "python3-bwrap": "bench/peers/python3-bwrap.mjs",
};

export const PEER_INFO = {
  "cordon-baseline":
    "Cordon as built from another checkout (`BENCH_BASELINE`, e.g. the commit before a change), started the same way: `cordon ÷ cordon-baseline` is the change's effect, measured in the same run",
  "cordon-no-limiter":
    "Cordon itself with `CORDON_RATE_LIMIT=off`: the same full path without the per-tenant rate limiter, so `cordon ÷ cordon-no-limiter` is the limiter's cost",
  "raw-workerd":
    "workerd with only a Worker Loader binding: `LOADER.get(hash)` for code seen before, `LOADER.load()` otherwise; no auth, rate limits, compile step, gateway or Durable Objects",
  "isolated-vm":
    "one Node process; a new isolated-vm Isolate and Context per execution, the script's completion value copied out",
  "child-process": "a new Node process per execution (`spawn(process.execPath)`), no sandbox added",
  "node-pyodide":
    "Pyodide loaded per execution in Node: a new worker thread per execution running `loadPyodide()` and then the code",
  "python3-bwrap":
    "`python3` in a new process per execution under bwrap (new namespaces, read-only root): no comparable isolation, the floor",
};

/** A free loopback port (there is a small race until the server binds it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** Builds dist/ the way `npm run build` does; throws with wrangler's output on failure. */
export function build() {
  const result = spawnSync(NODE, [join(ROOT, "host/build.mjs")], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, WRANGLER_SEND_METRICS: "false" },
  });
  if (result.status !== 0)
    throw new Error(`npm run build failed:\n${result.stdout}${result.stderr}`);
}

/**
 * Runs `NODE <script> ...args` with PORT set and waits until GET /healthz answers 200. The result is a
 * system: `{ name, url, headers, pid, output(), stop() }`.
 */
async function startNodeServer({
  name,
  script,
  args = [],
  env = {},
  headers = {},
  cleanup,
  root = ROOT,
}) {
  const port = await freePort();
  // Only the tail of the output is kept: Cordon logs a line per request.
  let output = "";
  const keep = (chunk) => {
    output = (output + chunk).slice(-64 * 1024);
  };
  const child = spawn(NODE, [join(root, script), ...args], {
    cwd: root,
    env: { ...process.env, HOST: "127.0.0.1", PORT: String(port), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  const exited = new Promise((resolve) => child.once("exit", resolve));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
    cleanup?.();
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      cleanup?.();
      throw new Error(`${name} exited early:\n${output}`);
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} did not answer /healthz within 60 s:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { name, url, headers, pid: child.pid, output: () => output, stop };
}

/**
 * Cordon's self-hosted server (`node host/start.mjs --no-build`; dist/ must be built) with a
 * temp data dir, a random dev key and a dev policy that lifts the rate limits to the server's
 * caps (the defaults, 20 requests/s and 8 in flight, would measure the limiter) and allows
 * egress to `egressAllow` (loopback needs CORDON_ALLOW_PRIVATE_EGRESS). `root` is the checkout to
 * run (another one, with its own `dist/` built, for a before/after comparison).
 */
export function startCordon({ egressAllow = [], name = "cordon", env = {}, root = ROOT } = {}) {
  const dataDir = mkdtempSync(join(tmpdir(), "cordon-bench-"));
  const key = randomBytes(24).toString("hex");
  const policy = {
    egress: { allow: egressAllow },
    limits: { rate: 10_000, burst: 10_000, concurrency: 256, wallMsPerMinute: 256 * 60_000 },
  };
  return startNodeServer({
    name,
    script: "host/start.mjs",
    args: ["--no-build"],
    env: {
      CORDON_DATA_DIR: dataDir,
      CORDON_DEV_API_KEY: key,
      CORDON_DEV_POLICY: JSON.stringify(policy),
      CORDON_ALLOW_PRIVATE_EGRESS: "1",
      ...env,
    },
    headers: { authorization: `Bearer ${key}` },
    cleanup: () => rmSync(dataDir, { recursive: true, force: true }),
    root,
  });
}

/** A peer by name (see PEERS and PYTHON_PEERS). */
export function startPeer(name) {
  const script = PEERS[name] ?? PYTHON_PEERS[name];
  if (!script) throw new Error(`unknown peer ${name}`);
  return startNodeServer({ name, script });
}

/** The fetch workload's upstream (answers `{"n":42}` on any path). */
export function startUpstream() {
  return startNodeServer({ name: "upstream", script: "bench/upstream.mjs" });
}

/** Every process below `pid` (and `pid` itself), read from /proc. */
function processTree(pid) {
  const children = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after the command name, which is in parentheses and may contain spaces.
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const ppid = Number(fields[1]);
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push({ pid: Number(entry), comm });
    } catch {
      // the process ended while we looked
    }
  }
  const tree = [];
  const queue = [pid];
  while (queue.length > 0) {
    const current = queue.shift();
    for (const child of children.get(current) ?? []) {
      tree.push(child);
      queue.push(child.pid);
    }
  }
  return tree;
}

/** What a workerd process of Cordon's server is, from the config on its command line. */
function workerdRole(pid) {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    const runner = /runner-(\d+)\.capnp/.exec(cmdline);
    if (runner) return `runner ${runner[1]}`;
    if (cmdline.includes("control.capnp")) return "control plane";
  } catch {
    // the process ended while we looked
  }
  return "workerd";
}

/**
 * Memory of the workerd processes under `pid` (the control plane and any runners): the sum of
 * their RSS, and of their PSS, which counts pages they share (the workerd binary) once; `each`
 * has every process's RSS by its role (`control plane`, `runner 0`, …).
 */
export function workerdMemory(pid) {
  let rssKiB = 0;
  let pssKiB = 0;
  const each = [];
  for (const { pid: p, comm } of processTree(pid)) {
    if (!comm.startsWith("workerd")) continue;
    try {
      const status = readFileSync(`/proc/${p}/status`, "utf8");
      const rss = Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      const rollup = readFileSync(`/proc/${p}/smaps_rollup`, "utf8");
      pssKiB += Number(/^Pss:\s+(\d+)/m.exec(rollup)?.[1] ?? 0);
      rssKiB += rss;
      each.push({ role: workerdRole(p), rssMiB: mib(rss) });
    } catch {
      // the process ended while we looked
    }
  }
  each.sort((a, b) => a.role.localeCompare(b.role));
  return { processes: each.length, rssMiB: mib(rssKiB), pssMiB: mib(pssKiB), each };
}

const mib = (kib) => Math.round(kib / 102.4) / 10;

/** utime + stime + cutime + cstime of a process, in clock ticks (0 if it is gone). */
function ticksOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat
      .slice(stat.lastIndexOf(")") + 2)
      .split(" ")
      .map(Number);
    // Fields 14–17 of stat, 11–14 after the command name.
    return fields[11] + fields[12] + fields[13] + fields[14];
  } catch {
    return 0;
  }
}

/**
 * CPU seconds the whole machine has been busy, and those of this process and everything under
 * it: live processes by their own times, ended ones through their parents' reaped-children times.
 */
function cpuNow() {
  // Clock ticks are 100 per second on Linux (USER_HZ).
  const cpu = readFileSync("/proc/stat", "utf8")
    .split("\n")[0]
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const [user, nice, system, , , irq, softirq, steal] = cpu;
  let own = ticksOf(process.pid);
  for (const { pid } of processTree(process.pid)) own += ticksOf(pid);
  return {
    busy: (user + nice + system + irq + softirq + steal) / 100,
    own: own / 100,
    at: Date.now(),
  };
}

/**
 * Starts counting how much CPU other processes use while the benchmark runs: the benchmark shares
 * the machine, and a busy neighbour lowers every figure. `stop()` answers in CPU seconds, and
 * `otherShare`, the fraction of the machine's cores others used.
 */
export function contention() {
  const start = cpuNow();
  return () => {
    const end = cpuNow();
    const round = (v) => Math.round(v * 10) / 10;
    const seconds = (end.at - start.at) / 1000;
    const own = end.own - start.own;
    const other = Math.max(0, end.busy - start.busy - own);
    return {
      seconds: round(seconds),
      benchCpuSeconds: round(own),
      otherCpuSeconds: round(other),
      otherShare: seconds > 0 ? Math.round((other / (seconds * cpus().length)) * 100) / 100 : 0,
    };
  };
}

/**
 * Waits (up to `maxSeconds`) for a second in which other processes use less than `share` of the
 * machine, so a measurement does not start in the middle of someone else's build. Resolves with
 * true if it found one.
 */
export async function waitForQuiet(maxSeconds, share = 0.2) {
  const deadline = Date.now() + maxSeconds * 1000;
  do {
    const sample = contention();
    await new Promise((r) => setTimeout(r, 1000));
    if (sample().otherShare < share) return true;
  } while (Date.now() < deadline);
  return false;
}
