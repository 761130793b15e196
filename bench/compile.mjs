// What compiling costs, against a baseline commit measured in the same run: compile time of
// 1 MiB of the worst shapes (declarations, nesting, functions, TypeScript, ...), and the run time
// of tight top-level loops in the compiled code (the completion-value bookkeeping is in them).
// Both compilers run in this Node process; the compiled code runs here too, with the harness's
// deadline checks stood in for by plain functions.
//
// Third, what a cached compile keeps alive: the heap before and after holding on to a few
// compiles of unique code (needs --expose-gc; skipped without it).
//
//   node --expose-gc bench/compile.mjs [baseline-ref] [current-ref]
//   (default: HEAD~1 against the work tree; BENCH_PARTS=compile,loops,memory picks parts)
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const esbuild = createRequire(import.meta.url)("esbuild");
const [baselineRef = "HEAD~1", currentRef] = process.argv.slice(2);
const MiB = 1024 * 1024;
const work = mkdtempSync(join(tmpdir(), "cordon-compile-bench-"));

/** compile() of `ref` (or of the work tree), bundled with its dependencies. */
async function compilerAt(ref) {
  let from = root;
  if (ref) {
    from = join(work, ref.replace(/[^\w.-]/g, "_"));
    mkdirSync(from, { recursive: true });
    const archive = execFileSync("git", ["archive", ref, "src"], { cwd: root });
    execFileSync("tar", ["-x", "-C", from], { input: archive });
  }
  const outfile = join(work, `${ref ?? "worktree"}.mjs`.replace(/[^\w.-]/g, "_"));
  // The compiler moved under runtimes/ with the guest-runtime interface; older refs have it here.
  const entry = ["src/sandbox/runtimes/javascript/compile.ts", "src/sandbox/compile.ts"]
    .map((path) => join(from, path))
    .find((path) => existsSync(path));
  esbuild.buildSync({
    entryPoints: [entry],
    bundle: true,
    format: "esm",
    platform: "node",
    nodePaths: [join(root, "node_modules")],
    outfile,
    logLevel: "error",
  });
  return (await import(outfile)).compile;
}

/** Repeats `unit(i)` until the text is just under 1 MiB. */
function fill(unit, prefix = "", suffix = "") {
  const parts = [prefix];
  let length = prefix.length + suffix.length;
  for (let i = 0; ; i++) {
    const part = unit(i);
    if (length + part.length > MiB - 16) break;
    parts.push(part);
    length += part.length;
  }
  parts.push(suffix);
  return parts.join("");
}

// As deep as the parser takes (it refuses code nested much deeper than this, in any version).
const depth = 300;
const SHAPES = {
  "let declarations": ["javascript", fill((i) => `let v${i} = 0;\n`)],
  "one let, many names": ["javascript", fill((i) => `v${i} = 0, `, "let ", "z = 0;")],
  "var declarations": ["javascript", fill((i) => `var v${i} = 0;\n`)],
  "function declarations": ["javascript", fill((i) => `function f${i}(a) { return a + ${i} }\n`)],
  "arrow bindings": ["javascript", fill((i) => `const f${i} = (a) => a;\n`)],
  "expression statements": ["javascript", fill((i) => `f(${i});\n`)],
  "short statements": ["javascript", fill(() => "1;")],
  "loops with breaks": ["javascript", fill((i) => `for (;;) { if (x) break; ${i} }\n`)],
  "nested blocks and loops": [
    "javascript",
    fill(() => `${"{ while (x) ".repeat(depth)}1${" }".repeat(depth)}\n`),
  ],
  "member chains": ["javascript", fill(() => `x${".a".repeat(20000)};\n`)],
  "labels and jumps": [
    "javascript",
    fill((i) => `l${i}: for (;;) { if (x) break l${i}; else continue l${i} }\n`),
  ],
  "switch with many breaks": [
    "javascript",
    fill((i) => `case ${i}: x++; break;\n`, "switch (x) {\n", "}"),
  ],
  "try/finally": ["javascript", fill((i) => `try { ${i} } catch { ${i} } finally { ${i} }\n`)],
  "TypeScript declarations": ["typescript", fill((i) => `let v${i}: number = ${i} as number;\n`)],
  "TypeScript functions": [
    "typescript",
    fill((i) => `function f${i}<T extends object>(a: T): T { return a }\n`),
  ],
};

const LOOPS = {
  "loop that is the last statement": "let s = 0;\nfor (let i = 0; i < 3e7; i++) { s += i }",
  "loop then the result": "let s = 0;\nfor (let i = 0; i < 3e7; i++) { s += i }\ns",
  "loop with branches, last":
    "let s = 0;\nfor (let i = 0; i < 3e7; i++) { if (i & 1) { s += i } else { s -= 1 } }",
};

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

function timeCompile(compile, language, code, rounds = 3) {
  const times = [];
  let result;
  for (let i = 0; i < rounds; i++) {
    const started = performance.now();
    try {
      result = compile(code, language);
    } catch (err) {
      // What the control plane answered as a 500 before its compiler walked the tree in a loop.
      result = { ok: false, error: err };
    }
    times.push(performance.now() - started);
  }
  return { ms: median(times), ok: result.ok, bytes: result.ok ? result.source.length : 0 };
}

/** The compiled module of `code`, run as the harness runs it: resolves when it has finished. */
async function runnable(compile, code) {
  const made = compile(code, "javascript");
  if (!made.ok) throw new Error(made.error.message);
  const { default: run } = await import(`data:text/javascript,${encodeURIComponent(made.source)}`);
  let ticks = 0;
  const tick = () => {
    if (++ticks >= 1024) ticks = 0;
  };
  return () => run({ __proto__: null, in: {} }, undefined, tick, () => {});
}

/** Run times of both compilers' modules, taken in turns so drift on a busy machine hits both. */
async function timeLoops(compileA, compileB, code, rounds = 9) {
  const a = await runnable(compileA, code);
  const b = await runnable(compileB, code);
  const times = [[], []];
  for (let i = 0; i < rounds; i++) {
    for (const [index, run] of [a, b].entries()) {
      const started = performance.now();
      await run();
      times[index].push(performance.now() - started);
    }
  }
  return times.map(median);
}

const parts = new Set((process.env.BENCH_PARTS ?? "compile,loops,memory").split(","));
const baseline = await compilerAt(baselineRef);
const current = await compilerAt(currentRef);
const label = currentRef ?? "work tree";
console.log(`compile time of ~1 MiB, median of 3: ${baselineRef} vs ${label}\n`);
console.log("| shape | baseline ms | current ms | ratio | output bytes (current) |");
console.log("| --- | ---: | ---: | ---: | ---: |");
for (const [name, [language, code]] of Object.entries(parts.has("compile") ? SHAPES : {})) {
  const before = timeCompile(baseline, language, code);
  const after = timeCompile(current, language, code);
  const ratio = (after.ms / before.ms).toFixed(2);
  const note = after.ok ? after.bytes : "error";
  console.log(
    `| ${name} | ${before.ms.toFixed(0)}${before.ok ? "" : " (error)"} | ${after.ms.toFixed(0)} | ${ratio} | ${note} |`,
  );
}
console.log(
  `\nrun time of tight top-level loops (3e7 iterations), median of 9 runs taken in turns\n`,
);
console.log("| loop | baseline ms | current ms | ratio |");
console.log("| --- | ---: | ---: | ---: |");
for (const [name, code] of Object.entries(parts.has("loops") ? LOOPS : {})) {
  const [before, after] = await timeLoops(baseline, current, code);
  console.log(
    `| ${name} | ${before.toFixed(0)} | ${after.toFixed(0)} | ${(after / before).toFixed(2)} |`,
  );
}

/** Heap bytes that `count` compiles of unique code of `size` characters keep alive, per compile. */
function retained(compile, size, count) {
  const codes = Array.from({ length: count }, (_, n) =>
    fill((i) => `let v${n}_${i} = ${i};\nif (v${n}_${i}) { f(v${n}_${i}) }\n`).slice(0, size),
  ).map((code) => code.slice(0, code.lastIndexOf("\n") + 1));
  const held = [];
  // Not counted either: what sucrase still holds of the compile benchmark above.
  compile("", "typescript");
  const settle = () => {
    for (let i = 0; i < 4; i++) globalThis.gc();
    return process.memoryUsage().heapUsed;
  };
  const before = settle();
  for (const code of codes) {
    const made = compile(code, "typescript");
    // What the control plane caches: the module, keyed by the code it came from.
    held.push([`typescript\u0000${code}`, made]);
  }
  // Not counted: what sucrase keeps of its last parse until its next (a compiler may let it go).
  compile("", "typescript");
  const after = settle();
  if (held.length !== count) throw new Error("lost");
  return (after - before) / count;
}

/** What the compiler says a module keeps alive (`bytes`), plus its cache key, if it says. */
function estimated(compile, size) {
  const code = fill((i) => `let w_${i} = ${i};\nif (w_${i}) { f(w_${i}) }\n`).slice(0, size);
  const made = compile(code.slice(0, code.lastIndexOf("\n") + 1), "typescript");
  return made.ok && typeof made.bytes === "number" ? made.bytes + 2 * code.length : undefined;
}

if (!parts.has("memory")) {
  // not asked for
} else if (typeof globalThis.gc === "function") {
  console.log(
    "\nheap a cached compile keeps alive (TypeScript, the code itself included), per compile\n",
  );
  console.log("| code | baseline | current | ratio |");
  console.log("| --- | ---: | ---: | ---: |");
  for (const [size, count] of [
    [64 * 1024, 8],
    [MiB, 4],
  ]) {
    const before = retained(baseline, size, count);
    const after = retained(current, size, count);
    const mb = (bytes) => `${(bytes / MiB).toFixed(1)} MB`;
    console.log(
      `| ${size / 1024} KiB | ${mb(before)} | ${mb(after)} | ${(after / before).toFixed(2)} |`,
    );
    const estimate = estimated(current, size);
    if (estimate !== undefined)
      console.log(`|  (current's own estimate, with its key) | | ${mb(estimate)} | |`);
  }
} else console.log("\n(run with --expose-gc to measure what a cached compile keeps alive)");
rmSync(work, { recursive: true, force: true });
