// Where the server's memory goes over many unique executions: after a warm-up, runs unique code
// (`POST /v1/execute`, a nonce in each) at a few clients and samples every process of the server
// (the Node supervisor, the control-plane workerd, each runner workerd) every so many runs, so
// growth shows per process and its slope per 100 executions can be compared early and late.
// `node bench/memory.mjs [python|javascript]` (dist/ must be built); BENCH_MEM_RUNS (default
// 1000), BENCH_MEM_WARMUP (default 100), BENCH_MEM_EVERY (default 100), BENCH_MEM_CLIENTS
// (default 4); BENCH_MEM_INSPECT=1 also reads the control plane's V8 heap through its inspector
// at each sample (used and total, garbage included: workerd's inspector answers
// HeapProfiler.collectGarbage without collecting, so a drop in "used" is V8's own full GC).
// Loopback only.
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { inspectorTargets, openInspector } from "./inspector.mjs";
import { freePort, startCordon } from "./systems.mjs";

const LANGUAGE = process.argv[2] ?? "python";
const RUNS = Number(process.env.BENCH_MEM_RUNS ?? 1000);
const WARMUP = Number(process.env.BENCH_MEM_WARMUP ?? 100);
const EVERY = Number(process.env.BENCH_MEM_EVERY ?? 100);
const CLIENTS = Number(process.env.BENCH_MEM_CLIENTS ?? 4);

const nonce = () => randomBytes(6).toString("hex");

/** Unique code whose answer is known: a nonce in a comment, so every run's code hash differs. */
function uniqueCode() {
  const n = Math.floor(Math.random() * 1e6);
  const code =
    LANGUAGE === "python" ? `# fresh ${nonce()}\n${n} + 1` : `// fresh ${nonce()}\n${n} + 1`;
  return { code, expected: n + 1 };
}

async function once(server) {
  const { code, expected } = uniqueCode();
  const res = await fetch(`${server.url}/v1/execute`, {
    method: "POST",
    headers: { "content-type": "application/json", ...server.headers },
    body: JSON.stringify({ code, language: LANGUAGE }),
  });
  if (res.status !== 200) return false;
  const body = await res.json();
  return body.status === "ok" && body.result === expected;
}

/** The processes under `root` (and `root` itself), with their parent and command line. */
function tree(root) {
  const all = new Map();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      all.set(Number(entry), { pid: Number(entry), ppid, comm, cmdline });
    } catch {
      // ended while we looked
    }
  }
  const out = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift();
    const p = all.get(pid);
    if (p) out.push(p);
    for (const q of all.values()) if (q.ppid === pid) queue.push(q.pid);
  }
  return out;
}

/** A process's name in the server: supervisor, control, runner-N. */
function roleOf(p, root) {
  if (p.pid === root) return "supervisor";
  if (!p.comm.startsWith("workerd")) return undefined;
  const config = p.cmdline.findLast((a) => a.endsWith(".capnp")) ?? "";
  const runner = /runner-(\d+)\.capnp$/.exec(config);
  if (runner) return `runner-${runner[1]}`;
  if (config.endsWith("control.capnp")) return "control";
  return undefined;
}

const kib = (text, field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(text)?.[1] ?? 0);
const mib = (k) => Math.round(k / 102.4) / 10;

/** RSS, PSS and anonymous memory (MiB) of each process of the server, by role. */
function sample(root) {
  const out = {};
  for (const p of tree(root)) {
    const role = roleOf(p, root);
    if (!role) continue;
    try {
      const status = readFileSync(`/proc/${p.pid}/status`, "utf8");
      const rollup = readFileSync(`/proc/${p.pid}/smaps_rollup`, "utf8");
      out[role] = {
        pid: p.pid,
        rss: mib(kib(status, "VmRSS")),
        pss: mib(kib(rollup, "Pss")),
        anon: mib(kib(rollup, "Anonymous")),
      };
    } catch {
      // ended while we looked
    }
  }
  return out;
}

/** The control plane's V8 heaps (MiB used and total, per inspector target). */
async function heaps(inspector) {
  const out = [];
  for (const target of await inspectorTargets(inspector)) {
    const { send, close } = await openInspector(target);
    const heap = await send("Runtime.getHeapUsage");
    close();
    const m = (b) => Math.round(b / 104857.6) / 10;
    out.push(`${target.title}: ${m(heap.usedSize)} of ${m(heap.totalSize)}`);
  }
  return out.join("; ");
}

const inspector = process.env.BENCH_MEM_INSPECT ? `127.0.0.1:${await freePort()}` : undefined;
const server = await startCordon(inspector ? { env: { CORDON_INSPECT: inspector } } : {});
const rows = [];
try {
  let ok = 0;
  let failed = 0;
  const drive = async (count, onEach) => {
    let started = 0;
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (started < count) {
          started++;
          if (await once(server)) ok++;
          else failed++;
          onEach?.();
        }
      }),
    );
  };
  await drive(WARMUP);
  const t0 = Date.now();
  const record = (done) => {
    const s = sample(server.pid);
    rows.push({ done, seconds: Math.round((Date.now() - t0) / 1000), ...s });
    const parts = Object.entries(s)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([role, m]) => `${role} ${m.rss}/${m.pss}/${m.anon}`);
    console.log(`${String(done).padStart(5)} ok ${ok} failed ${failed}  ${parts.join("  ")}`);
  };
  const recordHeaps = async () => {
    if (inspector) console.log(`      control-plane V8 heap MiB: ${await heaps(inspector)}`);
  };
  console.log(`${LANGUAGE}: per process RSS/PSS/anonymous MiB, after ${WARMUP} warm-up runs`);
  record(0);
  await recordHeaps();
  let done = 0;
  let inspecting = Promise.resolve();
  await drive(RUNS, () => {
    done++;
    if (done % EVERY === 0) {
      record(done);
      inspecting = inspecting.then(recordHeaps);
    }
  });
  await inspecting;
  // Idle for a while: what a collection gives back.
  await new Promise((r) => setTimeout(r, 10_000));
  record(`${done}+10s`);
  await recordHeaps();
  console.log(JSON.stringify({ language: LANGUAGE, ok, failed, rows }));
} finally {
  await server.stop();
}
