// The Python runtime: CPython (Pyodide) inside a Worker Loader isolate, started from a memory
// snapshot that the process running the isolate makes at first use and keeps (docs/python.md).
// The code is not compiled here: CPython compiles it in the isolate and locates its errors in
// the code as sent.
import { env } from "cloudflare:workers";
import { sha256Hex } from "../../../bytes";
import type { GuestRuntime } from "../types";
import { makeSnapshot, pythonIsolate } from "./isolate";
import type { PythonProgram } from "./program";
import { type PyodideFiles, PythonUnavailable, pyodideFiles } from "./pyodide";

export type { PythonProgram };

/** Pyodide's files and its snapshot, once this process has them. */
let ready: { files: PyodideFiles; snapshot: ArrayBuffer } | undefined;
let starting: Promise<void> | undefined;

/**
 * Reads Pyodide's files through this worker's `PYODIDE` binding and makes the snapshot with its
 * `LOADER`, once per process; a failed attempt is retried by the next run.
 */
function start(): Promise<void> {
  if (ready) return Promise.resolve();
  starting ??= (async () => {
    const bindings = env as { LOADER?: WorkerLoader; PYODIDE?: Fetcher };
    if (!bindings.LOADER) throw new PythonUnavailable("this process has no LOADER binding");
    const files = await pyodideFiles(bindings.PYODIDE);
    ready = { files, snapshot: await makeSnapshot(bindings.LOADER, files) };
  })().finally(() => {
    starting = undefined;
  });
  return starting;
}

/** The Python runtime. */
export const python: GuestRuntime<PythonProgram> = {
  name: "python",
  oneShot: true,

  async prepare(request) {
    if (request.session) {
      return {
        ok: false,
        error: { name: "NotSupported", message: "Python does not run in sessions yet" },
      };
    }
    const program: PythonProgram = { runtime: "python", code: request.code };
    return {
      ok: true,
      program,
      isolateKey: `p-${await sha256Hex(request.code)}`,
      // The harness makes /tmp/workspace itself.
      workspace: false,
      // CPython reports positions in the code as sent.
      locate: (line, column) => ({ line, column }),
      settle: () => ({ warnings: [] }),
    };
  },

  isolate(program) {
    if (!ready) throw new PythonUnavailable("Python has not been started in this process");
    return pythonIsolate(ready.files, ready.snapshot, program.code);
  },

  // Starting the interpreter from its snapshot: about 0.3 s of one core (docs/python.md).
  setupCostMs: () => 300,

  async run(program, load) {
    await start();
    return load(program);
  },
};
