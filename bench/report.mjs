// Turns a run into its JSON, a markdown report, a PNG chart and the sections of bench/RESULTS.md.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { join } from "node:path";
import { Resvg } from "@resvg/resvg-js";
import { NODE, PEER_INFO, ROOT } from "./systems.mjs";
import { PYTHON_CLIENTS, PYTHON_WORKLOADS, WORKLOAD_INFO, WORKLOADS } from "./workloads.mjs";

/** The workloads of the main table and chart; the Python ones have their own. */
export const JS_WORKLOADS = WORKLOADS.filter((w) => !PYTHON_WORKLOADS.includes(w));
const isPython = (workload) => PYTHON_WORKLOADS.includes(workload);

export const COLORS = {
  cordon: "#f38020",
  "cordon-baseline": "#f7b267",
  "raw-workerd": "#4f6bed",
  "isolated-vm": "#2a9d8f",
  "child-process": "#8d99ae",
  "node-pyodide": "#9b5de5",
  "python3-bwrap": "#588157",
};

/** The commit measured, and whether the work tree had changes on top of it. */
export function revision() {
  const git = (...args) => spawnSync("git", args, { cwd: ROOT, encoding: "utf8" });
  const head = git("rev-parse", "--short", "HEAD");
  if (head.status !== 0) return "unknown";
  const dirty = git(
    "status",
    "--porcelain",
    "--",
    "src",
    "durable-objects",
    "host",
    "wrangler.toml",
  );
  return `${head.stdout.trim()}${dirty.stdout.trim() ? " with uncommitted changes" : ""}`;
}

/** What the figures were measured on; the load average shows whether the machine was quiet. */
export function machine() {
  const workerd = JSON.parse(
    readFileSync(join(ROOT, "node_modules/workerd/package.json"), "utf8"),
  ).version;
  return {
    cores: cpus().length,
    cpu: cpus()[0]?.model ?? "unknown",
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    // The Node the servers run on (the harness may run on another).
    node: spawnSync(NODE, ["--version"], { encoding: "utf8" }).stdout.trim(),
    workerd,
    loadAverageAtStart: loadavg().map((v) => Math.round(v * 100) / 100),
    cordonRevision: revision(),
  };
}

const fmt = (value, digits = 1) => {
  if (value === null || value === undefined) return "–";
  if (value >= 100) return Math.round(value).toLocaleString("en-US");
  return value.toFixed(digits);
};
const fmtMs = (value) => {
  if (value === null || value === undefined) return "–";
  return value < 10 ? value.toFixed(2) : fmt(value);
};
const ratio = (a, b) => {
  if (!a || !b) return "–";
  const r = a / b;
  return `${r >= 10 ? Math.round(r) : r >= 1 ? r.toFixed(1) : r.toFixed(2)}×`;
};

/** A system's result for a workload (at `connections` clients, for the Python workloads). */
const find = (run, system, workload, connections) =>
  run.results.find(
    (r) =>
      r.system === system &&
      r.workload === workload &&
      (connections === undefined || !r.supported || r.connections === connections),
  );

/** The systems that have a result for any of `workloads`, in the run's order. */
const systemsOf = (run, workloads) =>
  run.systems.filter((system) =>
    run.results.some((r) => r.system === system && workloads.includes(r.workload)),
  );

const OTHERS_NOTE =
  "Others' CPU: the share of the machine's cores that processes outside the benchmark used " +
  "while that row was measured. The benchmark shares its machine; a row with much of it is slowed.";
const share = (r) =>
  typeof r.otherShare === "number" ? `${Math.round(r.otherShare * 100)} %` : "";

/** A sentence on what else used the CPU while the run went on. */
function contentionLine(run) {
  const c = run.contention;
  if (!c) return "";
  return (
    ` While it ran (${c.seconds} s), the bench and its servers used ${c.benchCpuSeconds} ` +
    `CPU-seconds and other processes ${c.otherCpuSeconds}.`
  );
}

/** The markdown of a comparison run (the table, the ratios, the notes). */
export function compareMarkdown(run) {
  const m = run.machine;
  const s = run.settings;
  const peers = systemsOf(run, JS_WORKLOADS).filter((name) => name !== "cordon");
  const lines = [
    `Run of ${run.startedAt.slice(0, 16).replace("T", " ")} UTC, Cordon at ${m.cordonRevision}, ` +
      `on ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, workerd ${m.workerd}; load average at start ` +
      `${m.loadAverageAtStart.join(", ")}. Each workload ran ${s.seconds} s per system after ` +
      `${s.warmupSeconds} s of untimed warm-up, with ${s.connections} connections; the load ` +
      `generator and the server under test share the cores.${contentionLine(run)}`,
    "",
    "| workload | system | req/s | p50 ms | p99 ms | answers | errors | Cordon's `usage.wallMs` p50 | others' CPU |",
    "|---|---|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const workload of JS_WORKLOADS) {
    const rows = run.systems.map((system) => find(run, system, workload)).filter(Boolean);
    // A workload no system could run is one row, not one per system.
    if (rows.length > 1 && rows.every((r) => !r.supported)) {
      lines.push(`| ${workload} | every system | skipped | | | | | | |`);
      continue;
    }
    for (const system of run.systems) {
      const r = find(run, system, workload);
      if (!r) continue;
      const name = system === "cordon" ? "**cordon**" : system;
      if (!r.supported) {
        lines.push(`| ${workload} | ${name} | skipped | | | | | | |`);
        continue;
      }
      lines.push(
        `| ${workload} | ${name} | ${fmt(r.rps)} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ` +
          `${r.requests.toLocaleString("en-US")} | ${r.errors} | ${r.wallMsP50 ?? ""} | ${share(r)} |`,
      );
    }
  }
  lines.push(
    "",
    OTHERS_NOTE,
    "",
    "Cordon relative to each peer in the same run: throughput as Cordon ÷ peer (above 1×: Cordon " +
      "serves more), latency as Cordon ÷ peer (below 1×: Cordon answers sooner).",
    "",
    `| workload | ${peers.map((p) => `vs ${p}: req/s · p50 · p99`).join(" | ")} |`,
    `|---|${peers.map(() => "--:").join("|")}|`,
  );
  for (const workload of JS_WORKLOADS) {
    const c = find(run, "cordon", workload);
    if (!c?.supported) continue;
    const cells = peers.map((p) => {
      const r = find(run, p, workload);
      if (!r?.supported) return "–";
      return `${ratio(c.rps, r.rps)} · ${ratio(c.p50, r.p50)} · ${ratio(c.p99, r.p99)}`;
    });
    lines.push(`| ${workload} | ${cells.join(" | ")} |`);
  }
  const notes = resultNotes(run, JS_WORKLOADS);
  if (run.cordonMemory) {
    notes.push(
      `- Cordon's workerd processes (${run.cordonMemory.processes}) after the run: ` +
        `RSS ${run.cordonMemory.rssMiB} MiB, PSS ${run.cordonMemory.pssMiB} MiB.`,
    );
  }
  if (notes.length > 0) lines.push("", ...notes);
  return lines.join("\n");
}

/**
 * Notes on the results of `workloads`: errors, skips (the same reason said once, naming every
 * system), and systems that could not start.
 */
function resultNotes(run, workloads) {
  const notes = [];
  const skips = new Map();
  for (const r of run.results) {
    if (!workloads.includes(r.workload)) continue;
    const at = isPython(r.workload) && r.supported ? ` at ${r.connections} clients` : "";
    if (!r.supported) {
      const key = `${r.workload}\u0000${r.note}`;
      skips.set(key, [...(skips.get(key) ?? []), r.system]);
    } else if (r.errors > 0 || r.requests === 0) {
      notes.push(`- ${r.system}, ${r.workload}${at}: ${r.errors} errors: ${r.firstError}`);
    }
  }
  for (const [key, names] of skips) {
    const [workload, note] = key.split("\u0000");
    notes.push(`- ${workload} skipped on ${names.join(", ")}: ${note}`);
  }
  for (const missing of run.missing)
    notes.push(`- ${missing.system} not measured: ${missing.reason}`);
  return notes;
}

const PYTHON_PEER = "node-pyodide";

/**
 * The markdown of the Python workloads of a comparison run: p50 at one client and throughput at
 * PYTHON_CLIENTS per system, the goals of issue 17 against them, and the server's memory over
 * many unique Python executions.
 */
export function pythonMarkdown(run) {
  const m = run.machine;
  const s = run.settings;
  const systems = systemsOf(run, PYTHON_WORKLOADS);
  const lines = [
    `Run of ${run.startedAt.slice(0, 16).replace("T", " ")} UTC, Cordon at ${m.cordonRevision}, ` +
      `on ${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB, Node ${m.node}, workerd ${m.workerd}; ` +
      `load average at start ${m.loadAverageAtStart.join(", ")}. Each Python workload ran on each ` +
      `system at 1 client and again at ${PYTHON_CLIENTS}, each time after one untimed execution ` +
      `per client, for ${s.pythonSeconds} s and then until every request sent was answered ` +
      `(counted; the time runs to the last answer). Every system's first ${2 * PYTHON_CLIENTS} ` +
      `Python executions were untimed: a Cordon runner makes its Python snapshot at its first.` +
      contentionLine(run),
    "",
    `| workload | system | p50 ms, 1 client | p99 ms, 1 client | req/s, ${PYTHON_CLIENTS} clients | ` +
      `p50 ms, ${PYTHON_CLIENTS} clients | answers | errors | Cordon's \`usage.wallMs\` p50, 1 client | others' CPU |`,
    "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|",
  ];
  for (const workload of PYTHON_WORKLOADS) {
    for (const system of systems) {
      const one = find(run, system, workload, 1);
      if (!one) continue;
      const name = system === "cordon" ? "**cordon**" : system;
      const many = find(run, system, workload, PYTHON_CLIENTS);
      if (!one.supported || !many?.supported) {
        lines.push(`| ${workload} | ${name} | skipped | | | | | | | |`);
        continue;
      }
      lines.push(
        `| ${workload} | ${name} | ${fmtMs(one.p50)} | ${fmtMs(one.p99)} | ${fmt(many.rps, 2)} | ` +
          `${fmtMs(many.p50)} | ${(one.requests + many.requests).toLocaleString("en-US")} | ` +
          `${one.errors + many.errors} | ${one.wallMsP50 ?? ""} | ${share(one)} · ${share(many)} |`,
      );
    }
  }
  lines.push(
    "",
    `${OTHERS_NOTE} Two figures: at 1 client · at ${PYTHON_CLIENTS}.`,
    "",
    ...pythonGoals(run),
  );
  const memory = pythonMemoryMarkdown(run.pythonMemory);
  if (memory.length > 0) lines.push("", ...memory);
  const notes = resultNotes(run, PYTHON_WORKLOADS);
  if (notes.length > 0) lines.push("", ...notes);
  return lines.join("\n");
}

/** The goals of issue 17 against this run's figures (Cordon's), each with its verdict. */
function pythonGoals(run) {
  const fresh = find(run, "cordon", "python-fresh", 1);
  const freshMany = find(run, "cordon", "python-fresh", PYTHON_CLIENTS);
  const peerMany = find(run, PYTHON_PEER, "python-fresh", PYTHON_CLIENTS);
  const session = find(run, "cordon", "python-session", 1);
  const memory = run.pythonMemory;
  const verdict = (ok) => (ok ? "met" : "**not met**");
  const rows = [];
  if (fresh?.supported) {
    rows.push(
      `| fresh Python p50 ≤ 400 ms at 1 client | ${fmtMs(fresh.p50)} ms | ${verdict(fresh.p50 <= 400)} |`,
    );
  }
  if (freshMany?.supported && peerMany?.supported) {
    const against = `${fmt(freshMany.rps, 2)}/s vs ${fmt(peerMany.rps, 2)}/s`;
    rows.push(
      `| fresh Python ≥ 4× ${PYTHON_PEER}'s throughput at ${PYTHON_CLIENTS} clients | ` +
        (peerMany.rps > 0
          ? `${ratio(freshMany.rps, peerMany.rps)} (${against}) | ${verdict(freshMany.rps / peerMany.rps >= 4)} |`
          : `${against}: the peer answered nothing | – |`),
    );
  }
  if (session?.supported) {
    rows.push(
      `| a session's Python run p50 ≤ 15 ms at 1 client | ${fmtMs(session.p50)} ms | ${verdict(session.p50 <= 15)} |`,
    );
  }
  if (memory?.perExecutionMiB !== undefined) {
    rows.push(
      `| server memory flat over ≥ 500 unique Python executions after warm-up (growth ≤ ${FLAT_MIB_PER_EXECUTION} MiB per execution) | ` +
        `${signed(memory.growthMiB)} MiB over ${memory.executions} (${signed(memory.perExecutionMiB, 3)} MiB each) | ` +
        `${memory.executions < 500 ? "– (too few executions)" : verdict(memory.perExecutionMiB <= FLAT_MIB_PER_EXECUTION)} |`,
    );
  }
  if (rows.length === 0) return [];
  return [
    "Issue 17's goals, against Cordon's figures in this run:",
    "",
    "| goal | this run | verdict |",
    "|---|---|---|",
    ...rows,
  ];
}

/**
 * "Flat", as the memory goal is checked: at most this much more RSS per execution (5 MiB over
 * 500, about 1 % of the server's RSS), so that a leak of kilobytes per run shows.
 */
const FLAT_MIB_PER_EXECUTION = 0.01;

const signed = (value, digits = 1) => `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(digits)}`;

/** The memory samples of Cordon's server over the unique Python executions. */
function pythonMemoryMarkdown(memory) {
  if (!memory) return [];
  if (memory.skip) return [`Memory over unique Python executions: skipped (${memory.skip}).`];
  const roles = [...new Set(memory.samples.flatMap((x) => x.each.map((e) => e.role)))];
  const rssOf = (sample, role) =>
    sample.each
      .filter((e) => e.role === role)
      .map((e) => e.rssMiB)
      .join(" + ") || "–";
  return [
    `Memory of Cordon's server (RSS of each workerd process, read from \`/proc\`) over ` +
      `${memory.executions.toLocaleString("en-US")} unique Python executions after the workloads ` +
      `above and ${(memory.warmup ?? 0).toLocaleString("en-US")} more to warm up (the control ` +
      `plane's heap fills with garbage until its first full collections; it grew by ` +
      `${signed(memory.warmupGrowthMiB ?? 0)} MiB meanwhile), at ${PYTHON_CLIENTS} clients ` +
      `(${memory.seconds} s, ${memory.errors} errors), sampled ` +
      `${memory.settleSeconds} s after every ${memory.chunk}: ${signed(memory.growthMiB)} MiB in all, ` +
      `${signed(memory.perExecutionMiB, 3)} MiB per execution.`,
    "",
    `| executions | ${roles.map((r) => `${r} RSS MiB`).join(" | ")} | RSS MiB | PSS MiB |`,
    `|--:|${roles.map(() => "--:").join("|")}|--:|--:|`,
    ...memory.samples.map(
      (x) =>
        `| ${x.executions.toLocaleString("en-US")} | ${roles.map((r) => rssOf(x, r)).join(" | ")} | ${x.rssMiB} | ${x.pssMiB} |`,
    ),
  ];
}

/** The markdown of a scaling run (memory and throughput by clients). */
export function scalingMarkdown(run) {
  const m = run.machine;
  const lines = [
    `Run of ${run.startedAt.slice(0, 16).replace("T", " ")} UTC, Cordon at ${m.cordonRevision}, ` +
      `on ${m.cores} cores (${m.cpu}), Node ${m.node}, workerd ${m.workerd}; load average at ` +
      `start ${m.loadAverageAtStart.join(", ")}.${contentionLine(run)}`,
    "",
    "Memory of Cordon's server: the sum over its workerd processes (RSS counts pages they share, " +
      "such as the workerd binary, once per process; PSS splits them).",
    "",
    "| state | workerd processes | RSS MiB | PSS MiB |",
    "|---|--:|--:|--:|",
    ...run.memory.map((x) => `| ${x.label} | ${x.processes} | ${x.rssMiB} | ${x.pssMiB} |`),
    "",
    `Throughput by concurrent clients (${run.settings.seconds} s each after ` +
      `${run.settings.warmupSeconds} s of warm-up):`,
    "",
    "| workload | clients | req/s | p50 ms | p99 ms | errors | `usage.wallMs` p50 | others' CPU |",
    "|---|--:|--:|--:|--:|--:|--:|--:|",
    ...run.throughput.map(
      (r) =>
        `| ${r.workload} | ${r.connections} | ${fmt(r.rps)} | ${fmtMs(r.p50)} | ${fmtMs(r.p99)} | ` +
        `${r.errors} | ${r.wallMsP50 ?? ""} | ${share(r)} |`,
    ),
    "",
    OTHERS_NOTE,
  ];
  const notes = [
    ...run.notes,
    ...run.throughput
      .filter((r) => r.firstError)
      .map(
        (r) => `${r.workload} with ${r.connections} clients: ${r.errors} errors: ${r.firstError}`,
      ),
  ];
  if (notes.length > 0) lines.push("", ...notes.map((n) => `- ${n}`));
  return lines.join("\n");
}

const escapeXml = (text) =>
  String(text).replace(
    /[&<>"]/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c],
  );

/**
 * One log-scale grouped bar panel: a group per workload, a bar per system; `pick(system,
 * workload)` is the result a bar shows and `value(result)` its height.
 */
function panel({ x, y, width, height, title, unit, systems, workloads, pick, value }) {
  const values = systems
    .flatMap((system) => workloads.map((workload) => pick(system, workload)))
    .filter((r) => r?.supported)
    .map(value)
    .filter((v) => v > 0);
  const lo = Math.floor(Math.log10(Math.min(...values, 1)));
  const hi = Math.ceil(Math.log10(Math.max(...values, 10)));
  const left = x + 56;
  const plotW = width - 70;
  const top = y + 34;
  const plotH = height - 70;
  const yOf = (v) => top + plotH - ((Math.log10(v) - lo) / (hi - lo)) * plotH;
  const out = [
    `<text x="${x + 4}" y="${y + 18}" font-size="16" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  for (let d = lo; d <= hi; d++) {
    const v = 10 ** d;
    const label = v >= 1000 ? `${v / 1000}k` : String(v);
    out.push(
      `<line x1="${left}" x2="${left + plotW}" y1="${yOf(v)}" y2="${yOf(v)}" stroke="#ddd"/>`,
      `<text x="${left - 6}" y="${yOf(v) + 4}" font-size="11" text-anchor="end" fill="#555">${label}</text>`,
    );
  }
  out.push(
    `<text x="${x + 12}" y="${top + plotH / 2}" font-size="11" fill="#555" transform="rotate(-90 ${x + 12} ${top + plotH / 2})" text-anchor="middle">${escapeXml(unit)} (log)</text>`,
  );
  const groupW = plotW / workloads.length;
  const barW = Math.min(44, (groupW - 16) / systems.length);
  workloads.forEach((workload, g) => {
    const gx = left + g * groupW + (groupW - barW * systems.length) / 2;
    out.push(
      `<text x="${left + g * groupW + groupW / 2}" y="${top + plotH + 20}" font-size="13" text-anchor="middle">${workload}</text>`,
    );
    systems.forEach((system, i) => {
      const r = pick(system, workload);
      const bx = gx + i * barW;
      const cx = bx + barW / 2;
      if (!r?.supported || !(value(r) > 0)) {
        out.push(
          `<text x="${cx}" y="${top + plotH - 4}" font-size="10" text-anchor="middle" fill="#999">n/a</text>`,
        );
        return;
      }
      const v = value(r);
      const by = Math.min(yOf(v), top + plotH - 1);
      out.push(
        `<rect x="${bx + 1}" y="${by}" width="${barW - 2}" height="${top + plotH - by}" fill="${COLORS[system] ?? "#666"}"/>`,
        `<text x="${cx}" y="${by - 4}" font-size="10" text-anchor="middle">${v >= 100 ? Math.round(v) : v.toFixed(v < 1 ? 2 : 1)}</text>`,
      );
    });
  });
  out.push(
    `<line x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}" stroke="#333"/>`,
  );
  return out.join("\n");
}

/** A chart: a title, the systems' colours, and two panels (`panels`: their options). */
function chart(title, systems, panels) {
  const width = 1100;
  const legend = systems
    .map(
      (system, i) =>
        `<rect x="${60 + i * 170}" y="50" width="14" height="14" fill="${COLORS[system] ?? "#666"}"/>` +
        `<text x="${80 + i * 170}" y="62" font-size="13">${escapeXml(system)}</text>`,
    )
    .join("\n");
  const body = [
    `<text x="20" y="30" font-size="20" font-weight="bold">${escapeXml(title)}</text>`,
    legend,
    ...panels.map((options, i) =>
      panel({ x: 10, y: 80 + i * 370, width: width - 20, height: 360, systems, ...options }),
    ),
  ];
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="820" font-family="DejaVu Sans, Arial, sans-serif">
<rect width="100%" height="100%" fill="#fff"/>
${body.join("\n")}
</svg>
`;
}

/** SVG of throughput and p99 per workload and system (the JavaScript workloads). */
export function chartSvg(run) {
  const workloads = JS_WORKLOADS.filter((w) => run.results.some((r) => r.workload === w));
  const s = run.settings;
  const pick = (system, workload) => find(run, system, workload);
  return chart(
    `Cordon vs peers: ${run.startedAt.slice(0, 10)}, ${run.machine.cores} cores, ${s.connections} connections, ${s.seconds} s per workload`,
    systemsOf(run, workloads),
    [
      {
        title: "Throughput (correct answers per second, higher is better)",
        unit: "req/s",
        workloads,
        pick,
        value: (r) => r.rps,
      },
      {
        title: "p99 latency (ms, lower is better)",
        unit: "ms",
        workloads,
        pick,
        value: (r) => r.p99,
      },
    ],
  );
}

/** SVG of the Python workloads: throughput at PYTHON_CLIENTS clients and p50 at one. */
export function pythonChartSvg(run) {
  const workloads = PYTHON_WORKLOADS.filter((w) => run.results.some((r) => r.workload === w));
  return chart(
    `Python: ${run.startedAt.slice(0, 10)}, ${run.machine.cores} cores, ${run.settings.pythonSeconds} s per measurement`,
    systemsOf(run, workloads),
    [
      {
        title: `Throughput at ${PYTHON_CLIENTS} clients (correct answers per second, higher is better)`,
        unit: "req/s",
        workloads,
        pick: (system, workload) => find(run, system, workload, PYTHON_CLIENTS),
        value: (r) => r.rps,
      },
      {
        title: "p50 latency at 1 client (ms, lower is better)",
        unit: "ms",
        workloads,
        pick: (system, workload) => find(run, system, workload, 1),
        value: (r) => r.p50,
      },
    ],
  );
}

/** Renders an SVG to PNG without a browser (resvg; text uses the system's fonts). */
export function svgToPng(svg) {
  return new Resvg(svg, { font: { loadSystemFonts: true, defaultFontFamily: "DejaVu Sans" } })
    .render()
    .asPng();
}

const RESULTS_PATH = join(ROOT, "bench/RESULTS.md");
const RESULTS_HEAD = `# Benchmark results

What \`npm run bench\` and \`npm run bench -- --scaling\` last measured, written by them. How to
run them, what each workload and peer is, and the caveats: [README.md](README.md). Figures come
from one run on one machine: compare systems within a run, not runs across machines.
`;

/** Replaces one marked section of bench/RESULTS.md, keeping the others. */
export function updateResults(section, title, markdown) {
  const text = existsSync(RESULTS_PATH) ? readFileSync(RESULTS_PATH, "utf8") : RESULTS_HEAD;
  const start = `<!-- bench:${section}:start -->`;
  const end = `<!-- bench:${section}:end -->`;
  const block = `${start}\n## ${title}\n\n${markdown}\n${end}`;
  const at = text.indexOf(start);
  const next =
    at >= 0
      ? text.slice(0, at) + block + text.slice(text.indexOf(end, at) + end.length)
      : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(RESULTS_PATH, next);
  // `npm run lint` checks markdown formatting too (tables padded to their columns): the file is
  // written the way Biome would, so a run never leaves the repository failing its lint.
  spawnSync(
    NODE,
    [join(ROOT, "node_modules/@biomejs/biome/bin/biome"), "format", "--write", RESULTS_PATH],
    {
      cwd: ROOT,
      stdio: "ignore",
    },
  );
}

/** Lines describing the workloads and peers, for the reports. */
export function legendMarkdown(systems, workloads = WORKLOADS) {
  return [
    ...workloads.map((w) => `- \`${w}\`: ${WORKLOAD_INFO[w]}`),
    ...systems.filter((s) => PEER_INFO[s]).map((s) => `- ${s}: ${PEER_INFO[s]}`),
  ].join("\n");
}
