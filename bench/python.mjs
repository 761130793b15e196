// Python figures: Cordon's `python-fresh` and `python-session` workloads against two peers in the
// same run: Pyodide loaded per execution in Node (`loadPyodide()` + run), and `python3` in a
// subprocess under bwrap (no comparable isolation: the floor). Also the server's memory over many
// unique Python executions after warm-up. `node bench/python.mjs` (dist/ must be built);
// BENCH_PY_SECONDS (default 20) per throughput measurement, BENCH_PY_SAMPLES (default 15) per
// latency measurement, BENCH_PY_MEMORY_RUNS (default 200) for the memory check.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { contention, NODE, ROOT, startCordon, workerdMemory } from "./systems.mjs";

const SECONDS = Number(process.env.BENCH_PY_SECONDS ?? 20);
const SAMPLES = Number(process.env.BENCH_PY_SAMPLES ?? 15);
const MEMORY_RUNS = Number(process.env.BENCH_PY_MEMORY_RUNS ?? 200);
const CLIENTS = 4;

const nonce = () => randomBytes(6).toString("hex");
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.floor(s.length / 2)];
};

/** Runs `once` (resolving true when its answer was right) at `clients` concurrency for `seconds`. */
async function throughput(clients, seconds, once) {
  const until = Date.now() + seconds * 1000;
  let ok = 0;
  let failed = 0;
  const started = Date.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (Date.now() < until) {
        if (await once()) ok++;
        else failed++;
      }
    }),
  );
  return { perSecond: ok / ((Date.now() - started) / 1000), ok, failed };
}

/** Latencies (ms) of `samples` sequential calls of `once`; throws on a wrong answer. */
async function latencies(samples, once) {
  const ms = [];
  for (let i = 0; i < samples; i++) {
    const t = performance.now();
    if (!(await once())) throw new Error("wrong answer");
    ms.push(performance.now() - t);
  }
  return ms;
}

// --- Cordon -------------------------------------------------------------------------------------

async function execute(server, path, body, headers = server.headers) {
  const res = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return res.status === 200 ? res.json() : { status: `http ${res.status}` };
}

function cordonFresh(server) {
  return async () => {
    const n = Math.floor(Math.random() * 1e6);
    const r = await execute(server, "/v1/execute", {
      code: `# fresh ${nonce()}\n${n} + 1`,
      language: "python",
    });
    return r.status === "ok" && r.result === n + 1;
  };
}

async function cordonSession(server) {
  const res = await fetch(`${server.url}/v1/sessions`, {
    method: "POST",
    headers: { "content-type": "application/json", ...server.headers },
    body: "{}",
  });
  const { sessionId } = await res.json();
  const path = `/v1/sessions/${sessionId}/execute`;
  const setup = await execute(server, path, { code: "base = 41", language: "python" });
  if (setup.status !== "ok") throw new Error(`session setup: ${JSON.stringify(setup)}`);
  return async () => {
    const r = await execute(server, path, { code: "base + 1", language: "python" });
    return r.status === "ok" && r.result === 42;
  };
}

// --- Peers --------------------------------------------------------------------------------------

/** A Node process that runs `loadPyodide()` + the code once per line it reads, answering a line. */
const PYODIDE_PEER = `
const { loadPyodide } = require(${JSON.stringify(join(ROOT, "node_modules/pyodide/pyodide.js"))});
const rl = require("node:readline").createInterface({ input: process.stdin });
rl.on("line", async (code) => {
  const py = await loadPyodide();
  const result = await py.runPythonAsync(JSON.parse(code));
  process.stdout.write(JSON.stringify(result) + "\\n");
});
`;

/** One Node process per client, each loading Pyodide afresh for every execution. */
function pyodidePeer() {
  const child = spawn(NODE, ["-e", PYODIDE_PEER], { stdio: ["pipe", "pipe", "inherit"] });
  let buffer = "";
  const waiting = [];
  child.stdout.on("data", (chunk) => {
    buffer += chunk;
    let at = buffer.indexOf("\n");
    while (at >= 0) {
      waiting.shift()?.(buffer.slice(0, at));
      buffer = buffer.slice(at + 1);
      at = buffer.indexOf("\n");
    }
  });
  return {
    once: () => {
      const n = Math.floor(Math.random() * 1e6);
      return new Promise((resolve) => {
        waiting.push((line) => resolve(JSON.parse(line) === n + 1));
        child.stdin.write(`${JSON.stringify(`# ${nonce()}\n${n} + 1`)}\n`);
      });
    },
    stop: () => child.kill(),
  };
}

const PYTHON = execFileSync("python3", ["-c", "import sys; print(sys.executable)"], {
  encoding: "utf8",
}).trim();

/** `python3 -c` under bwrap (new namespaces, read-only root): one process per execution. */
function python3Once() {
  const n = Math.floor(Math.random() * 1e6);
  return new Promise((resolve) => {
    const child = spawn(
      "bwrap",
      [
        "--unshare-all",
        "--die-with-parent",
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        PYTHON,
        "-c",
        `# ${nonce()}\nprint(${n} + 1)`,
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let out = "";
    child.stdout.on("data", (chunk) => {
      out += chunk;
    });
    child.once("close", () => resolve(out.trim() === String(n + 1)));
  });
}

// --- The run ------------------------------------------------------------------------------------

const rows = [];
const row = (system, workload, p50, perSecond) => {
  rows.push({ system, workload, p50, perSecond });
};

const whole = contention();
const server = await startCordon();
try {
  const fresh = cordonFresh(server);
  // Untimed: each runner's first Python run makes its snapshot.
  for (let i = 0; i < 4; i++) await fresh();
  row("cordon", "python-fresh", median(await latencies(SAMPLES, fresh)), undefined);
  const freshRate = await throughput(CLIENTS, SECONDS, fresh);
  rows.at(-1).perSecond = freshRate.perSecond;
  rows.at(-1).note = `${freshRate.ok} ok, ${freshRate.failed} failed`;

  const session = await cordonSession(server);
  row("cordon", "python-session", median(await latencies(SAMPLES, session)), undefined);

  const pyodide = Array.from({ length: CLIENTS }, pyodidePeer);
  try {
    await pyodide[0].once();
    row("node-pyodide", "python-fresh", median(await latencies(SAMPLES, pyodide[0].once)));
    let next = 0;
    const rate = await throughput(CLIENTS, SECONDS, () => {
      // One client per process: a process runs one execution at a time.
      const peer = pyodide[next++ % CLIENTS];
      return peer.once();
    });
    rows.at(-1).perSecond = rate.perSecond;
  } finally {
    for (const p of pyodide) p.stop();
  }

  row("python3-bwrap", "python-fresh", median(await latencies(SAMPLES, python3Once)));
  rows.at(-1).perSecond = (await throughput(CLIENTS, SECONDS, python3Once)).perSecond;

  // Memory: after warm-up, over MEMORY_RUNS more unique executions at CLIENTS clients, sampled
  // every 50 runs (flat means no growth from one sample to the next beyond noise).
  const samples = [workerdMemory(server.pid)];
  let done = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (done + failed < MEMORY_RUNS) {
        if (await fresh()) done++;
        else failed++;
        if ((done + failed) % 50 === 0) samples.push(workerdMemory(server.pid));
      }
    }),
  );
  samples.push(workerdMemory(server.pid));
  const memory = {
    runs: done,
    failed,
    rssMiB: samples.map((m) => m.rssMiB),
    pssMiB: samples.map((m) => m.pssMiB),
  };
  for (const r of rows) {
    console.log(
      `${r.system.padEnd(14)} ${r.workload.padEnd(15)} p50 ${r.p50.toFixed(0)} ms${r.perSecond === undefined ? "" : `, ${r.perSecond.toFixed(2)}/s at ${CLIENTS} clients`}`,
    );
  }
  console.log(
    `memory over ${done} unique Python executions (${failed} failed), every 50: RSS ${memory.rssMiB.join(" → ")} MiB; PSS ${memory.pssMiB.join(" → ")} MiB`,
  );
  const others = whole();
  console.log(
    `other processes used ${Math.round(others.otherShare * 100)} % of the machine during the run`,
  );
  const out = { at: new Date().toISOString(), rows, memory, contention: others };
  mkdirSync(join(ROOT, "bench/results"), { recursive: true });
  writeFileSync(
    join(ROOT, "bench/results", `python-${Date.now()}.json`),
    JSON.stringify(out, null, 2),
  );
} finally {
  await server.stop();
}
