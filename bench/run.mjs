// `npm run bench`: Cordon against its peers, workload by workload, over loopback.
// `npm run bench -- --scaling`: Cordon's memory and its throughput by number of clients.
//
// Environment: BENCH_SECONDS (5) per workload per system, BENCH_CONNECTIONS (16),
// BENCH_WARMUP_SECONDS (1), BENCH_QUIET_WAIT (10) and BENCH_RETRIES (2) (see measure()), and for
// partial runs
// BENCH_SYSTEMS / BENCH_WORKLOADS (comma lists; a partial run writes bench/results/ but leaves
// bench/RESULTS.md alone). BENCH_BASELINE=<checkout> adds that checkout's Cordon (its dist/ built)
// as the system `cordon-baseline`, for a before/after comparison within one run.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  chartSvg,
  compareMarkdown,
  legendMarkdown,
  machine,
  scalingMarkdown,
  svgToPng,
  updateResults,
} from "./report.mjs";
import {
  build,
  contention,
  PEERS,
  ROOT,
  startCordon,
  startPeer,
  startUpstream,
  waitForQuiet,
  workerdMemory,
} from "./systems.mjs";
import { createSessions, probeSessions, runWorkload, WORKLOADS } from "./workloads.mjs";

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
};
const baseline = process.env.BENCH_BASELINE ? resolve(process.env.BENCH_BASELINE) : undefined;
const ALL_SYSTEMS = [
  "cordon",
  ...(baseline ? ["cordon-baseline"] : []),
  "cordon-no-limiter",
  ...Object.keys(PEERS),
];
const systems = list("BENCH_SYSTEMS", ALL_SYSTEMS);
const workloads = list("BENCH_WORKLOADS", WORKLOADS);
const partial = systems.length !== ALL_SYSTEMS.length || workloads.length !== WORKLOADS.length;
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
  for (const name of systems) {
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
  for (const workload of workloads) {
    for (const { name, system } of ready) {
      const result = await measure(`${name} ${workload}`, () =>
        runWorkload(system, workload, { ...settings, upstreamUrl: upstream.url }),
      );
      run.results.push(result);
      say(`${name} ${workload}: ${summary(result)}`);
    }
  }
  for (const { name, system } of ready) {
    if (name === "cordon") run.cordonMemory = workerdMemory(system.pid);
    await stop(system);
  }
  return run;
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
  const md = compareMarkdown(run);
  const legend = legendMarkdown(run.systems);
  const png = svgToPng(chartSvg(run));
  const base = join(outDir, stamp);
  writeFileSync(`${base}.json`, `${JSON.stringify(run, null, 2)}\n`);
  writeFileSync(`${base}.png`, png);
  writeFileSync(
    `${base}.md`,
    `# Cordon vs peers\n\n${md}\n\n![throughput and p99](${stamp}.png)\n\n${legend}\n`,
  );
  say(`bench: wrote ${base}.{json,md,png}`);
  if (partial) {
    say("bench: partial run (BENCH_SYSTEMS / BENCH_WORKLOADS), bench/RESULTS.md left alone");
    return;
  }
  // The chart RESULTS.md shows is committed next to it (bench/results/ is not).
  writeFileSync(join(ROOT, "bench/chart.png"), png);
  updateResults(
    "compare",
    "Cordon vs peers (`npm run bench`)",
    `${md}\n\n![throughput and p99 per workload and system](chart.png)\n\n${legend}`,
  );
  say("bench: wrote bench/RESULTS.md and bench/chart.png");
}

main().then(
  () => process.exit(0),
  async (err) => {
    console.error(err);
    await Promise.all([...running].map((s) => s.stop()));
    process.exit(1);
  },
);
