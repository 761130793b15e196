// What sealing guest isolates costs (docs/isolates.md): runs the guest modules in a bare workerd
// with a Worker Loader, timing inside the worker (workerd's clock only moves inside a request).
//
//   node bench/isolation.mjs [--base <git ref>] [--rounds N]
//
// Prints, for the guest modules of the working tree and, with --base, of another commit:
// a one-shot isolate's first run, a named (reused) isolate's first run and its later runs; then
// how long sealing takes inside a request (one-shot layer, reused isolate by part), and what the
// rejected alternative, a walk that detects changes after every run, would cost per run.
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
const GUEST = "src/sandbox/guest";
const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i === -1 ? fallback : process.argv[i + 1];
};
const base = arg("--base");
const rounds = Number(arg("--rounds", 40));

/** Module names in the guest's module map, by file (src/sandbox/guest.ts has the same). */
const NAMES = {
  "harness.guest.js": "harness.js",
  "builtins.guest.js": "builtins.js",
  "context.guest.js": "context.js",
  "freeze.guest.js": "freeze.js",
  "json.guest.js": "json.js",
  "leftovers.guest.js": "leftovers.js",
  "modules.guest.js": "modules.js",
  "session.guest.js": "session.js",
  "workers.guest.js": "cloudflare-workers.js",
  "module.guest.js": "node-module.js",
};
const WARM_ONLY = {
  "seal-warm.guest.js": "seal.js",
  "repair.guest.js": "repair.js",
  "ses.guest.js": "ses.js",
};
const ONE_SHOT_ONLY = { "seal-oneshot.guest.js": "seal.js" };
// `input + 1`, as src/sandbox/compile.ts compiles it.
const USER = `export const __cordon$imported = [];
export default function (__cordon$, input, __cordon$t, __cordon$c) { return (async () => {
__cordon$.l = (input + 1);
})(); }`;

/** The guest files of the working tree, or of a commit. */
function guestFiles(ref) {
  if (ref === undefined) {
    return Object.fromEntries(
      readdirSync(join(ROOT, GUEST))
        .filter((f) => f.endsWith(".guest.js"))
        .map((f) => [f, readFileSync(join(ROOT, GUEST, f), "utf8")]),
    );
  }
  const list = execFileSync("git", ["-C", ROOT, "ls-tree", "--name-only", `${ref}:${GUEST}`], {
    encoding: "utf8",
  });
  return Object.fromEntries(
    list
      .split("\n")
      .filter((f) => f.endsWith(".guest.js"))
      .map((f) => [
        f,
        execFileSync("git", ["-C", ROOT, "show", `${ref}:${GUEST}/${f}`], { encoding: "utf8" }),
      ]),
  );
}

/** The module map of a one-shot or a reused isolate. */
function moduleMap(files, warm) {
  const modules = { "user.js": USER };
  const names = { ...NAMES, ...(warm ? WARM_ONLY : ONE_SHOT_ONLY) };
  for (const [file, text] of Object.entries(files)) {
    if (file === "sockets.guest.js") modules["cloudflare:sockets"] = { js: text };
    else if (names[file]) modules[names[file]] = text;
  }
  return modules;
}

const LAB = `import { RpcTarget, WorkerEntrypoint } from "cloudflare:workers";
class Sink extends RpcTarget { log() {} waitCancel() { return new Promise(() => {}); } }
export class Deny extends WorkerEntrypoint {
  async fetch() { return new Response("denied", { status: 403, headers: { "cordon-egress-denied": "1" } }); }
}
export default {
  async fetch(req, env, ctx) {
    const spec = await req.json();
    const code = () => ({ compatibilityDate: "2026-11-01", compatibilityFlags: spec.flags ?? [],
      mainModule: spec.main, modules: spec.modules, env: {}, globalOutbound: ctx.exports.Deny({}) });
    const started = Date.now();
    const stub = spec.id ? env.LOADER.get(spec.id, code) : env.LOADER.load(code());
    if (spec.main === "main.js") {
      const res = await stub.getEntrypoint().fetch("http://guest/");
      return new Response(await res.text());
    }
    const limits = { resultBytes: 1 << 20, logLines: 1000, logBytes: 1 << 18, timeoutMs: 5000 };
    const out = await stub.getEntrypoint().run(1, limits, ctx.exports.Deny({}), new Sink(), undefined);
    return Response.json({ ms: Date.now() - started, envelope: JSON.parse(out) });
  },
};`;

async function freePort() {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

async function startLab() {
  const dir = mkdtempSync(join(tmpdir(), "cordon-isolation-"));
  const port = await freePort();
  writeFileSync(join(dir, "lab.js"), LAB);
  writeFileSync(
    join(dir, "lab.capnp"),
    `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .lab) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const lab :Workerd.Worker = (
  modules = [ (name = "lab.js", esModule = embed "lab.js") ],
  compatibilityDate = "2026-11-01",
  bindings = [ (name = "LOADER", workerLoader = ()) ],
);`,
  );
  const child = spawn(
    join(ROOT, "node_modules/.bin/workerd"),
    ["serve", "--experimental", join(dir, "lab.capnp")],
    {
      stdio: "ignore",
    },
  );
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(url, { method: "POST", body: "{}" });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const call = async (spec) => {
    const res = await fetch(url, { method: "POST", body: JSON.stringify(spec) });
    return res.text();
  };
  const stop = () => {
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  };
  return { call, stop };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
let unique = 0;

/**
 * Server-side ms of a first run in a one-shot isolate, of a first run in a named isolate and of
 * later runs there, for each set of guest files, taking turns so that load on the machine meets
 * them alike.
 */
async function runCosts(lab, systems) {
  const run = async (modules, id, flags) => {
    const answer = JSON.parse(await lab.call({ main: "harness.js", modules, id, flags }));
    if (answer.envelope?.result !== 2)
      throw new Error(`unexpected answer: ${JSON.stringify(answer)}`);
    return answer.ms;
  };
  const costs = systems.map(([label, files]) => ({
    label,
    oneShot: moduleMap(files, false),
    warm: moduleMap(files, true),
    id: `later-${unique++}`,
    samples: { oneShot: [], firstNamed: [], laterNamed: [] },
  }));
  for (let i = 0; i < rounds; i++) {
    for (const c of i % 2 === 0 ? costs : [...costs].reverse()) {
      // One-shot code that names no timer runs with the runtime's web timers (docs/guest.md).
      c.samples.oneShot.push(await run(c.oneShot, undefined, ["no_nodejs_global_timers"]));
      c.samples.firstNamed.push(await run(c.warm, `first-${unique++}`, []));
      for (let j = 0; j < 10; j++) c.samples.laterNamed.push(await run(c.warm, c.id, []));
    }
  }
  return costs;
}

/** Moves the harness's sealing into its first run, timed there; seal-warm reports its parts. */
function timedSeal(files, warm) {
  const modules = moduleMap(files, warm);
  let harness = modules["harness.js"];
  const start = harness.indexOf("if (REUSED) guardProcess();");
  const end = harness.indexOf("export default class Harness");
  harness = `${harness.slice(0, start)}let sealMs;\nfunction sealNow() {\n  const t0 = Date.now();\n${harness.slice(start, end)}\n  sealMs = Date.now() - t0;\n}\n${harness.slice(end)}`;
  harness = harness.replace(
    "async run(input, limits, egress, sink, session) {",
    "async run(input, limits, egress, sink, session) {\n    if (sealMs === undefined) sealNow();",
  );
  // The harness's own answer, as source text: it gains the seal's times.
  harness = harness.replace(
    // biome-ignore lint/suspicious/noTemplateCurlyInString: source text of the harness
    'return `{${body},"logs":[${run.buf}],"dropped":${run.dropped}}`;',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: source text of the harness
    'return `{${body},"logs":[],"dropped":0,"sealMs":${sealMs},"parts":${JSON.stringify(globalThis.sealParts ?? null)}}`;',
  );
  modules["harness.js"] = harness;
  if (warm) {
    modules["seal.js"] = modules["seal.js"]
      .replace(
        /export function seal\(([^)]*)\) \{/,
        "export function seal($1) {\n  const t = [Date.now()];",
      )
      .replace(
        "  hardenIntrinsics();",
        "  t.push(Date.now());\n  hardenIntrinsics();\n  t.push(Date.now());",
      )
      .replace(
        "  return freezeAll(",
        "  const parts = () => { t.push(Date.now()); return t.slice(1).map((x, i) => x - t[i]); };\n  const failures = freezeAll(",
      )
      .replace(/, plain\);\n\}/, ", plain);\n  sealParts = parts();\n  return failures;\n}")
      .replace("export const REUSED = true;", "export const REUSED = true;\nexport let sealParts;");
    modules["harness.js"] = modules["harness.js"]
      .replace(
        'import { REUSED, seal } from "seal.js";',
        'import { REUSED, seal, sealParts } from "seal.js";',
      )
      .replace("globalThis.sealParts ?? null", "sealParts ?? null");
  }
  return modules;
}

async function sealCosts(lab, files) {
  const out = { oneShot: [], warm: [], parts: [] };
  for (let i = 0; i < Math.max(10, rounds / 2); i++) {
    for (const warm of [false, true]) {
      const answer = JSON.parse(
        await lab.call({
          main: "harness.js",
          modules: timedSeal(files, warm),
          id: warm ? `seal-${unique++}` : undefined,
          flags: warm ? [] : ["no_nodejs_global_timers"],
        }),
      );
      if (warm) {
        out.warm.push(answer.envelope.sealMs);
        out.parts.push(answer.envelope.parts);
      } else out.oneShot.push(answer.envelope.sealMs);
    }
  }
  return out;
}

/** The alternative: after each run, walk everything reachable and compare it with a snapshot. */
const DETECTOR = (
  withModules,
) => `const { getOwnPropertyDescriptors, getPrototypeOf, isExtensible } = Object;
function snapshot(roots) {
  const seen = new Map();
  const stack = [...roots];
  while (stack.length > 0) {
    const obj = stack.pop();
    if (obj === null || (typeof obj !== "object" && typeof obj !== "function") || seen.has(obj)) continue;
    let descs;
    try { descs = getOwnPropertyDescriptors(obj) } catch { continue }
    const sig = [getPrototypeOf(obj), isExtensible(obj)];
    for (const key of Reflect.ownKeys(descs)) {
      const d = descs[key];
      sig.push(key, d.value, d.get, d.set, d.writable, d.enumerable, d.configurable);
      if ("value" in d) stack.push(d.value); else stack.push(d.get, d.set);
    }
    seen.set(obj, sig);
    stack.push(getPrototypeOf(obj));
  }
  return seen;
}
function changed(before, roots) {
  const after = snapshot(roots);
  if (after.size !== before.size) return true;
  for (const [obj, sig] of after) {
    const old = before.get(obj);
    if (old === undefined || old.length !== sig.length) return true;
    for (let i = 0; i < sig.length; i++) if (!Object.is(sig[i], old[i])) return true;
  }
  return false;
}
const roots = [globalThis];
${withModules ? 'for (const n of process.getBuiltinModule("node:module").builtinModules) { try { roots.push(process.getBuiltinModule("node:" + n)) } catch {} }' : ""}
export default { async fetch() {
  const before = snapshot(roots);
  const started = Date.now();
  for (let i = 0; i < 20; i++) changed(before, roots);
  return Response.json({ ms: (Date.now() - started) / 20, objects: before.size });
} };`;

async function detectorCost(lab, withModules) {
  const samples = [];
  let objects = 0;
  for (let i = 0; i < 8; i++) {
    const answer = JSON.parse(
      await lab.call({ main: "main.js", modules: { "main.js": DETECTOR(withModules) } }),
    );
    samples.push(answer.ms);
    objects = answer.objects;
  }
  return { ms: median(samples), objects };
}

const lab = await startLab();
try {
  const show = (label, xs) => `${label} median ${median(xs)} ms, mean ${mean(xs).toFixed(2)} ms`;
  const systems = [["working tree", guestFiles()]];
  if (base) systems.push([`base ${base}`, guestFiles(base)]);
  for (const { label, samples } of await runCosts(lab, systems)) {
    console.log(`${label}:`);
    console.log(`  ${show("first run, one-shot isolate:", samples.oneShot)}`);
    console.log(`  ${show("first run, named isolate:  ", samples.firstNamed)}`);
    console.log(`  ${show("later runs, named isolate: ", samples.laterNamed)}`);
  }
  const seal = await sealCosts(lab, guestFiles());
  const parts = (i) => mean(seal.parts.map((p) => p[i])).toFixed(2);
  console.log(`sealing inside a request (working tree), mean of ${seal.warm.length}:`);
  console.log(`  one-shot layer ${mean(seal.oneShot).toFixed(3)} ms`);
  console.log(
    `  reused isolate ${mean(seal.warm).toFixed(2)} ms: guards and imported modules ${parts(0)}, ses freezing intrinsics ${parts(1)}, freezing the rest ${parts(2)}`,
  );
  for (const withModules of [false, true]) {
    const { ms, objects } = await detectorCost(lab, withModules);
    console.log(
      `detect-and-discard per run (${withModules ? "globals and built-in modules" : "globals"}, ${objects} objects): ${ms.toFixed(2)} ms`,
    );
  }
} finally {
  lab.stop();
}
