// The Python runtime: CPython (Pyodide) inside a Worker Loader isolate, started from a memory
// snapshot that the process running the isolate makes at first use and keeps (docs/python.md).
// The code is not compiled here: CPython compiles it in the isolate and locates its errors in
// the code as sent.
import { env } from "cloudflare:workers";
import { sha256Hex } from "../../../bytes";
import { PYTHON_LIMITS, SESSION_LIMITS } from "../../../config";
import type { LogEntry } from "../../logs";
import type { GuestRuntime } from "../types";
import { makeSnapshot, pythonIsolate } from "./isolate";
import type { PythonProgram } from "./program";
import { type PyodideFiles, PythonUnavailable, pyodideFiles, pythonPackages } from "./pyodide";

export type { PythonProgram };

/** Pyodide's files and its snapshot, once this process has them, and the isolate made of them. */
let ready: { files: PyodideFiles; snapshot: ArrayBuffer } | undefined;
let starting: Promise<void> | undefined;

/**
 * Reads Pyodide's files through this worker's `PYODIDE` binding and makes the snapshot with its
 * `LOADER`, once per process; a failed attempt is retried by the next run.
 */
function start(): Promise<void> {
  if (ready) return Promise.resolve();
  starting ??= (async () => {
    const bindings = env as {
      LOADER?: WorkerLoader;
      PYODIDE?: Fetcher;
      PYODIDE_PACKAGES?: Fetcher;
    };
    if (!bindings.LOADER) throw new PythonUnavailable("this process has no LOADER binding");
    const files = await pyodideFiles(bindings.PYODIDE);
    const packages = await pythonPackages(bindings.PYODIDE_PACKAGES);
    ready = { files, snapshot: await makeSnapshot(bindings.LOADER, files, packages) };
  })().finally(() => {
    starting = undefined;
  });
  return starting;
}

/** The Python runtime. */
export const python: GuestRuntime<PythonProgram> = {
  name: "python",
  // A run outside a session gets an isolate of its own: an interpreter keeps what an earlier run
  // changed in its modules and builtins. A session's turns may share the session's interpreter,
  // which only that session's runs ever reach (its isolate key is the session's).
  reusable: (program) => program.session === true,
  // An interpreter holds 100 to 200 MB (docs/python.md): a process keeps few.
  get heavyPerProcess() {
    return setting("CORDON_PYTHON_WARM_SESSIONS", PYTHON_LIMITS.warmSessionsPerProcess);
  },
  get heavyKeepMs() {
    return setting("CORDON_PYTHON_KEEP_SECONDS", PYTHON_LIMITS.keepSeconds) * 1000;
  },
  // Measured on `npm start` (docs/python.md): a runner's first Python run grew it by 240 to 380 MB
  // at its peak (Pyodide's files, the snapshot and the isolate that made it), a later run by 160
  // to 200 MB (an interpreter restored from the snapshot, its wasm compiled for the isolate).
  memoryMb: { start: 192, run: 224 },

  async prepare(request) {
    const program: PythonProgram = {
      runtime: "python",
      code: request.code,
      ...(request.session ? { session: true } : {}),
    };
    return {
      ok: true,
      program,
      // A session's turns share the session's interpreter; other runs are keyed by their code.
      isolateKey: request.session
        ? `ps-${(await sha256Hex(request.session.id)).slice(0, 32)}`
        : `p-${await sha256Hex(request.code)}`,
      // The harness makes /tmp/workspace itself.
      workspace: false,
      carried: (variables) => variables.python ?? {},
      // CPython reports positions in the code as sent.
      locate: (line, column) => ({ line, column }),
      settle(envelope, before) {
        const warnings: LogEntry[] = [];
        const lost = Array.isArray(envelope?.warnings)
          ? envelope.warnings.filter((w): w is string => typeof w === "string")
          : [];
        if (!before || !isCarried(envelope?.vars) || !envelope?.files) {
          return { warnings: notCarried(lost) };
        }
        const python = capped(envelope.vars, lost);
        warnings.push(...notCarried(lost));
        return { warnings, variables: { ...before, python } };
      },
    };
  },

  isolate(_program, reused) {
    if (!ready) throw new PythonUnavailable("Python has not been started in this process");
    if (!reused) return pythonIsolate(ready.files, ready.snapshot);
    return pythonIsolate({ ...ready.files, wasm: keptWasm(ready.files.wasm) }, ready.snapshot);
  },

  // Starting the interpreter from its snapshot takes about 0.3 s of one core, but the first run
  // in a process makes the snapshot first (about 2 s on an idle machine; docs/python.md), during
  // which its process answers nothing: a runner pool must not take that for a hung runner.
  setupCostMs: (_program, started) => (started ? 500 : 2_500),

  // The code goes with each run: a session's interpreter runs turn after turn.
  perRun: (program) => program.code,

  async run(program, load) {
    await start();
    return load(program);
  },
};

/**
 * A whole number ≥ 0 from this process's `name` setting (`CORDON_PYTHON_WARM_SESSIONS`: sessions'
 * interpreters a process keeps, 0 for none; `CORDON_PYTHON_KEEP_SECONDS`), else `fallback`.
 */
function setting(
  name: "CORDON_PYTHON_WARM_SESSIONS" | "CORDON_PYTHON_KEEP_SECONDS",
  fallback: number,
): number {
  const raw = (env as { [key in typeof name]?: string })[name];
  const n = typeof raw === "string" && raw !== "" ? Number(raw) : Number.NaN;
  return Number.isInteger(n) && n >= 0 ? n : fallback;
}

/**
 * How many kept interpreters are made from one copy of the wasm bytes. V8 shares the compiled
 * module between the isolates of a process whose wasm bytes are the same, and code it adds there
 * for each new instance stays until no isolate uses the module (measured: about 0.6 MB per
 * instance on `npm start`). One-shot interpreters come and go, so theirs is freed between runs; a
 * kept interpreter would hold theirs forever, so kept ones get bytes of their own (an appended
 * custom section), renewed every so many, so that each copy's module is freed once the
 * interpreters made from it have been ended.
 */
const KEPT_PER_COPY = 32;
let kept: { wasm: ArrayBuffer; made: number; copy: number } | undefined;

/** The wasm bytes for the next kept interpreter (see KEPT_PER_COPY). */
function keptWasm(wasm: ArrayBuffer): ArrayBuffer {
  if (!kept || kept.made >= KEPT_PER_COPY) {
    const copy = (kept?.copy ?? 0) + 1;
    kept = { wasm: withCustomSection(wasm, `cordon-kept-${copy}`), made: 0, copy };
  }
  kept.made++;
  return kept.wasm;
}

/** `wasm` with an empty custom section named `name` appended: the same module, other bytes. */
function withCustomSection(wasm: ArrayBuffer, name: string): ArrayBuffer {
  const label = new TextEncoder().encode(name);
  // Section id 0 (custom), its size, then the name's length and the name (each size < 128).
  const section = new Uint8Array([0, label.length + 1, label.length, ...label]);
  const out = new Uint8Array(wasm.byteLength + section.length);
  out.set(new Uint8Array(wasm), 0);
  out.set(section, wasm.byteLength);
  return out.buffer;
}

/** The harness's carried variables: name → text. */
function isCarried(vars: unknown): vars is Record<string, string> {
  if (typeof vars !== "object" || vars === null) return false;
  return Object.values(vars).every((text) => typeof text === "string");
}

/**
 * The variables within the session's cap on carried text: past it, the largest are dropped
 * (named in `lost`), as JavaScript drops what does not fit.
 */
function capped(vars: Record<string, string>, lost: string[]): Record<string, string> {
  const entries = Object.entries(vars);
  let size = entries.reduce((sum, [name, text]) => sum + name.length + text.length, 0);
  if (size <= SESSION_LIMITS.carriedChars) return vars;
  const bySize = [...entries].sort((a, b) => b[1].length - a[1].length);
  const dropped = new Set<string>();
  for (const [name, text] of bySize) {
    if (size <= SESSION_LIMITS.carriedChars) break;
    dropped.add(name);
    size -= name.length + text.length;
    lost.push(`${name} (the session carries at most ${SESSION_LIMITS.carriedChars} characters)`);
  }
  return Object.fromEntries(entries.filter(([name]) => !dropped.has(name)));
}

function notCarried(lost: string[]): LogEntry[] {
  return lost.length === 0
    ? []
    : [{ level: "warn", message: `not carried to the next execution: ${lost.join(", ")}` }];
}
