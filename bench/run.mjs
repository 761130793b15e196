// `npm run bench`: Cordon against its peers, workload by workload, over loopback.
// `npm run bench -- --scaling`: Cordon's memory and its throughput by number of clients.
//
// Environment: BENCH_SECONDS (5) per workload per system, BENCH_CONNECTIONS (16),
// BENCH_WARMUP_SECONDS (1), BENCH_QUIET_WAIT (10) and BENCH_RETRIES (2) (see measure()); for the
// Python workloads BENCH_PY_SECONDS (8) per measurement and BENCH_PY_MEMORY_RUNS (500); and for
// partial runs BENCH_SYSTEMS / BENCH_WORKLOADS (comma lists; a partial run writes bench/results/
// and rewrites only the sections of bench/RESULTS.md whose every workload it ran on every system).
// BENCH_BASELINE=<checkout> adds that checkout's Cordon (its dist/ built) as the system
// `cordon-baseline`, for a before/after comparison within one run.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  chartSvg,
  compareMarkdown,
  JS_WORKLOADS,
  legendMarkdown,
  machine,
  pythonChartSvg,
  pythonMarkdown,
  scalingMarkdown,
  svgToPng,
  updateResults,
} from "./report.mjs";
import {
  build,
  contention,
  PEERS,
  PYTHON_PEERS,
  ROOT,
  startCordon,
  startPeer,
  startUpstream,
  waitForQuiet,
  workerdMemory,
} from "./systems.mjs";
import {
  createSessions,
  PYTHON_CLIENTS,
  PYTHON_WORKLOADS,
  probeSessions,
  runWorkload,
  WORKLOADS,
} from "./workloads.mjs";

const number = (name, fallback) => {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name} must be a number ≥ 0`);
  return value;
};
const list = (name, all) => {
  const raw = process.env[name];
  if (!raw) return all;
  const picked = raw.split(",").map((s) => s.trim());
  for (const p of picked) if (!all.includes(p)) throw new Error(`${name}: unknown ${p}`);
  return picked;
};

const settings = {
  seconds: number("BENCH_SECONDS", 5),
  connections: Math.max(1, Math.round(number("BENCH_CONNECTIONS", 16))),
  warmupSeconds: number("BENCH_WARMUP_SECONDS", 1),
  quietWaitSeconds: number("BENCH_QUIET_WAIT", 10),
  retries: Math.round(number("BENCH_RETRIES", 2)),
  pythonSeconds: number("BENCH_PY_SECONDS", 8),
  pythonMemoryRuns: Math.round(number("BENCH_PY_MEMORY_RUNS", 500)),
  pythonMemoryWarmup: Math.round(number("BENCH_PY_MEMORY_WARMUP", 1000)),
};
const baseline = process.env.BENCH_BASELINE ? resolve(process.env.BENCH_BASELINE) : undefined;
const ALL_SYSTEMS = [
  "cordon",
  ...(baseline ? ["cordon-baseline"] : []),
  "cordon-no-limiter",
  ...Object.keys(PEERS),
  ...Object.keys(PYTHON_PEERS),
];
/**
 * Whether `system` runs `workload`: the Python workloads run on Cordon (and the baseline) and the
 * Python peers; the others on every system but the Python peers. The limiter's cost is measured
 * on the JavaScript workloads only: next to a Python run's hundreds of milliseconds it is noise.
 */
const PYTHON_SYSTEMS = ["cordon", "cordon-baseline", ...Object.keys(PYTHON_PEERS)];
const runsOn = (system, workload) =>
  PYTHON_WORKLOADS.includes(workload)
    ? PYTHON_SYSTEMS.includes(system)
    : !Object.hasOwn(PYTHON_PEERS, system);
const systems = list("BENCH_SYSTEMS", ALL_SYSTEMS);
const workloads = list("BENCH_WORKLOADS", WORKLOADS);
/** Whether this run measured every workload of a section of RESULTS.md on every system it has. */
const covers = (sectionWorkloads) =>
  sectionWorkloads.every((w) => workloads.includes(w)) &&
  ALL_SYSTEMS.every((s) => systems.includes(s) || !sectionWorkloads.some((w) => runsOn(s, w)));
const scaling = process.argv.includes("--scaling");

// Everything started is stopped on the way out, Ctrl-C included.
const running = new Set();
async function started(promise) {
  const system = await promise;
  running.add(system);
  return system;
}
async function stop(system) {
  running.delete(system);
  await system.stop();
}
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    await Promise.all([...running].map((s) => s.stop()));
    process.exit(130);
  });
}

const say = (line) => process.stdout.write(`${line}\n`);
const summary = (r) =>
  r.supported
    ? `${r.rps} req/s, p50 ${r.p50} ms, p99 ${r.p99} ms, ${r.requests} answers, ${r.errors} errors` +
      (r.firstError ? ` (first: ${r.firstError})` : "")
    : `skipped: ${r.note}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs one measurement on a machine the benchmark shares: first lets a neighbour's burst (a test
 * run, a build) pass, for up to BENCH_QUIET_WAIT s; then, if other processes still took more
 * than a tenth of the CPU while it ran, measures again (up to BENCH_RETRIES times) and keeps the
 * least disturbed result.
 */
async function measure(label, fn) {
  let best;
  for (let attempt = 0; attempt <= settings.retries; attempt++) {
    await quiet();
    const result = await fn();
    if (!result.supported) return result;
    if (!best || result.otherShare < best.otherShare) best = result;
    if (result.otherShare <= 0.1) break;
    if (attempt < settings.retries) {
      say(
        `${label}: other processes took ${Math.round(result.otherShare * 100)} % of the CPU; again`,
      );
    }
  }
  return best;
}

async function quiet() {
  if (settings.quietWaitSeconds <= 0) return;
  if (!(await waitForQuiet(settings.quietWaitSeconds))) {
    say(
      `bench: other processes kept the CPU busy for ${settings.quietWaitSeconds} s; measuring anyway`,
    );
  }
}

async function compare(upstream) {
  const run = {
    kind: "compare",
    startedAt: new Date().toISOString(),
    machine: machine(),
    settings,
    systems: [],
    missing: [],
    results: [],
  };
  // Every system is started first and the workloads then run system after system, so the
  // figures a ratio compares were measured seconds apart, not minutes: this machine's speed drifts.
  const ready = [];
  // A system none of the chosen workloads runs on is not started.
  for (const name of systems.filter((s) => workloads.some((w) => runsOn(s, w)))) {
    try {
      ready.push({
        name,
        system: await started(
          name === "cordon"
            ? startCordon({ egressAllow: [upstream.url] })
            : name === "cordon-baseline"
              ? startCordon({ egressAllow: [upstream.url], name, root: baseline })
              : name === "cordon-no-limiter"
                ? startCordon({
                    egressAllow: [upstream.url],
                    name,
                    env: { CORDON_RATE_LIMIT: "off" },
                  })
                : startPeer(name),
        ),
      });
    } catch (err) {
      // A peer that cannot start here (say, isolated-vm without its native addon) is reported,
      // not faked; the others still run.
      const reason = String(err instanceof Error ? err.message : err)
        .split("\n")
        .slice(0, 3)
        .join(" ");
      say(`${name}: could not start: ${reason}`);
      run.missing.push({ system: name, reason });
    }
  }
  run.systems = ready.map(({ name }) => name);
  const warmedForPython = new Set();
  for (const workload of workloads) {
    for (const { name, system } of ready) {
      if (!runsOn(name, workload)) continue;
      if (PYTHON_WORKLOADS.includes(workload)) {
        if (!warmedForPython.has(name)) {
          warmedForPython.add(name);
          await warmPython(name, system);
        }
        run.results.push(...(await measurePython(name, system, workload)));
        continue;
      }
      const result = await measure(`${name} ${workload}`, () =>
        runWorkload(system, workload, { ...settings, upstreamUrl: upstream.url }),
      );
      run.results.push(result);
      say(`${name} ${workload}: ${summary(result)}`);
    }
  }
  const cordon = ready.find(({ name }) => name === "cordon");
  if (cordon && workloads.includes("python-fresh")) {
    run.pythonMemory = await pythonMemory(cordon.system);
  }
  for (const { name, system } of ready) {
    if (name === "cordon") run.cordonMemory = workerdMemory(system.pid);
    await stop(system);
  }
  return run;
}

/**
 * Untimed: 2 × PYTHON_CLIENTS unique Python executions at PYTHON_CLIENTS clients, so each runner
 * of Cordon's pool that the pool gives Python runs to has made its Python snapshot (a runner's
 * first Python run, seconds long) before anything is timed; a peer warms its caches.
 */
async function warmPython(name, system) {
  const result = await runWorkload(system, "python-fresh", {
    amount: 2 * PYTHON_CLIENTS,
    connections: PYTHON_CLIENTS,
  });
  if (result.supported) say(`${name} python warm-up: ${summary(result)}`);
}

/**
 * A Python workload on one system as issue 17 states its goals: latency at one client, then
 * throughput at PYTHON_CLIENTS, each for BENCH_PY_SECONDS (and until the requests sent by then
 * are answered) after one untimed execution per client.
 */
async function measurePython(name, system, workload) {
  const results = [];
  for (const connections of [1, PYTHON_CLIENTS]) {
    const result = await measure(`${name} ${workload} ×${connections}`, () =>
      runWorkload(system, workload, {
        seconds: settings.pythonSeconds,
        connections,
        warmupAmount: connections,
        untilAnswered: true,
      }),
    );
    results.push(result);
    say(`${name} ${workload} ×${connections}: ${summary(result)}`);
    // A system without Python (or without sessions) says so once.
    if (!result.supported) break;
  }
  return results;
}

/**
 * Cordon's server memory over BENCH_PY_MEMORY_RUNS unique Python executions (at PYTHON_CLIENTS
 * clients) after the Python workloads warmed it: the RSS of the control plane and of every
 * runner, sampled before, after every 100 and at the end, each time once the server settled.
 */
async function pythonMemory(cordon) {
  const chunk = 100;
  const settleSeconds = 2;
  const sample = async (executions) => {
    await sleep(settleSeconds * 1000);
    return { executions, ...workerdMemory(cordon.pid) };
  };
  // The control plane's V8 heap fills with garbage until its first full collections (about 1,000
  // Python executions after a start, bench/memory.mjs); "after warm-up" is after those.
  const before = await sample(0);
  let warmup = 0;
  for (let done = 0; done < settings.pythonMemoryWarmup; done += chunk) {
    const result = await runWorkload(cordon, "python-fresh", {
      amount: Math.min(chunk, settings.pythonMemoryWarmup - done),
      connections: PYTHON_CLIENTS,
    });
    if (!result.supported) return { skip: result.note };
    warmup += result.requests + 1;
  }
  const samples = [await sample(0)];
  let executions = 0;
  let errors = 0;
  const started = performance.now();
  const rounds = Math.ceil(settings.pythonMemoryRuns / chunk);
  for (let round = 0; round < rounds; round++) {
    const amount = Math.min(chunk, settings.pythonMemoryRuns - round * chunk);
    const result = await runWorkload(cordon, "python-fresh", {
      amount,
      connections: PYTHON_CLIENTS,
    });
    if (!result.supported) return { skip: result.note };
    // The workload's probe is a unique execution too.
    executions += result.requests + 1;
    errors += result.errors;
    samples.push(await sample(executions));
  }
  const first = samples[0];
  const last = samples.at(-1);
  const growthMiB = Math.round((last.rssMiB - first.rssMiB) * 10) / 10;
  const memory = {
    warmup,
    warmupGrowthMiB: Math.round((samples[0].rssMiB - before.rssMiB) * 10) / 10,
    executions,
    errors,
    chunk,
    settleSeconds,
    seconds: Math.round((performance.now() - started) / 100) / 10,
    growthMiB,
    perExecutionMiB: executions > 0 ? Math.round((growthMiB / executions) * 1000) / 1000 : 0,
    samples,
  };
  say(
    `cordon memory over ${executions} unique Python executions (${errors} errors): RSS ` +
      `${samples.map((x) => x.rssMiB).join(" → ")} MiB (${memory.perExecutionMiB} MiB each)`,
  );
  return memory;
}

async function scale() {
  const run = {
    kind: "scaling",
    startedAt: new Date().toISOString(),
    machine: machine(),
    settings: { seconds: settings.seconds, warmupSeconds: settings.warmupSeconds },
    memory: [],
    throughput: [],
    notes: [],
  };
  const cordon = await started(startCordon());
  const memoryAt = async (label) => {
    // A moment for freed isolates and sockets to go before reading /proc.
    await sleep(2_000);
    const memory = { label, ...workerdMemory(cordon.pid) };
    run.memory.push(memory);
    say(`memory, ${label}: RSS ${memory.rssMiB} MiB, PSS ${memory.pssMiB} MiB`);
  };
  await memoryAt("idle, just started");
  const unique = await runWorkload(cordon, "fresh", { amount: 2_000, connections: 16 });
  run.notes.push(`2,000 unique executions (16 clients): ${summary(unique)}.`);
  await memoryAt("after 2,000 unique executions");
  const probe = await probeSessions(cordon);
  if (probe.skip) {
    run.notes.push(`1,000 idle sessions: skipped (${probe.skip}).`);
  } else {
    const created = await createSessions(cordon, 999, { first: probe.session, concurrency: 16 });
    if (created.error) run.notes.push(`1,000 idle sessions: ${created.error}`);
    else await memoryAt("with 1,000 idle sessions (each ran one execution)");
  }
  for (const workload of ["fresh", "warm"]) {
    for (const connections of [1, 4, 16, 64]) {
      const result = await measure(`cordon ${workload} ×${connections}`, () =>
        runWorkload(cordon, workload, { ...settings, connections }),
      );
      run.throughput.push(result);
      say(`cordon ${workload} ×${connections}: ${summary(result)}`);
    }
  }
  await memoryAt("after the throughput runs");
  await stop(cordon);
  return run;
}

async function main() {
  say("bench: building the worker (npm run build)");
  build();
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const outDir = join(ROOT, "bench/results");
  mkdirSync(outDir, { recursive: true });
  if (scaling) {
    const busy = contention();
    const run = await scale();
    run.contention = busy();
    const md = scalingMarkdown(run);
    const base = join(outDir, `${stamp}-scaling`);
    writeFileSync(`${base}.json`, `${JSON.stringify(run, null, 2)}\n`);
    writeFileSync(`${base}.md`, `# Cordon scaling\n\n${md}\n`);
    updateResults("scaling", "Scaling (`npm run bench -- --scaling`)", md);
    say(`bench: wrote ${base}.{json,md} and bench/RESULTS.md`);
    return;
  }
  const busy = contention();
  const upstream = await started(startUpstream());
  let run;
  try {
    run = await compare(upstream);
  } finally {
    await stop(upstream);
  }
  run.contention = busy();
  const base = join(outDir, stamp);
  writeFileSync(`${base}.json`, `${JSON.stringify(run, null, 2)}\n`);
  // Each part of the report: the JavaScript workloads and the Python ones, each with its chart.
  const parts = [];
  if (workloads.some((w) => JS_WORKLOADS.includes(w))) {
    parts.push({
      section: "compare",
      title: "Cordon vs peers (`npm run bench`)",
      md: compareMarkdown(run),
      png: svgToPng(chartSvg(run)),
      chart: "chart.png",
      alt: "throughput and p99 per workload and system",
      legend: legendMarkdown(
        run.systems.filter((s) => JS_WORKLOADS.some((w) => runsOn(s, w))),
        JS_WORKLOADS,
      ),
      complete: covers(JS_WORKLOADS),
    });
  }
  if (workloads.some((w) => PYTHON_WORKLOADS.includes(w))) {
    parts.push({
      section: "python",
      title: "Python (`npm run bench`, workloads `python-fresh` and `python-session`)",
      md: pythonMarkdown(run),
      png: svgToPng(pythonChartSvg(run)),
      chart: "chart-python.png",
      alt: `throughput at ${PYTHON_CLIENTS} clients and p50 at 1 client per Python workload and system`,
      legend: legendMarkdown(
        run.systems.filter((s) => PYTHON_WORKLOADS.some((w) => runsOn(s, w))),
        PYTHON_WORKLOADS,
      ),
      complete: covers(PYTHON_WORKLOADS),
    });
  }
  const report = [];
  for (const part of parts) {
    const png = `${stamp}-${part.chart}`;
    writeFileSync(join(outDir, png), part.png);
    report.push(`## ${part.title}\n\n${part.md}\n\n![${part.alt}](${png})\n\n${part.legend}\n`);
  }
  writeFileSync(`${base}.md`, `# npm run bench, ${stamp}\n\n${report.join("\n")}`);
  say(`bench: wrote ${base}.{json,md} and its charts`);
  for (const part of parts) {
    if (!part.complete) {
      say(`bench: partial run, the section "${part.section}" of bench/RESULTS.md left alone`);
      continue;
    }
    // The chart RESULTS.md shows is committed next to it (bench/results/ is not).
    writeFileSync(join(ROOT, "bench", part.chart), part.png);
    updateResults(
      part.section,
      part.title,
      `${part.md}\n\n![${part.alt}](${part.chart})\n\n${part.legend}`,
    );
    say(`bench: wrote the section "${part.section}" of bench/RESULTS.md and bench/${part.chart}`);
  }
}

main().then(
  () => process.exit(0),
  async (err) => {
    console.error(err);
    await Promise.all([...running].map((s) => s.stop()));
    process.exit(1);
  },
);
