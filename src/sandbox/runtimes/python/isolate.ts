import { GUEST_COMPATIBILITY_DATE, type HarnessLimits, type LogReceiver } from "../../guest";
import builtinsSource from "../../guest/builtins.guest.js";
import jsonSource from "../../guest/json.guest.js";
import harnessSource from "./guest/harness.guest.js";
import pythonHarnessSource from "./guest/harness.guest.py";
import shimsSource from "./guest/shims.guest.js";
import { type PyodideFiles, PythonUnavailable } from "./pyodide";

/**
 * A session's state as a Python run gets it: carried variables (`name -> text`, see
 * harness.guest.py), the workspace files, and the id of the state the run before answered with
 * (an isolate that still holds that state skips restoring it).
 */
export interface PythonSession {
  values: Record<string, string>;
  files: { path: string; data: string }[];
  state?: string;
}

/** One run of Python code. */
export interface PythonJob {
  /** Cache key of a reused isolate; only read when `reuse` is set. */
  hash: string;
  /** Run in the named isolate `hash` (made if it is not there), not in a one-off isolate. */
  reuse?: boolean;
  code: string;
  input: unknown;
  limits: HarnessLimits;
  session?: PythonSession;
  /** os.environ additions: secret placeholders by name (the isolate is made with them). */
  env?: Record<string, string>;
}

interface PythonEntrypoint extends Rpc.WorkerEntrypointBranded {
  snapshot(): Promise<Uint8Array>;
  run(
    code: string,
    input: unknown,
    limits: HarnessLimits,
    egress: Fetcher,
    sink: LogReceiver,
    session: PythonSession | undefined,
  ): Promise<string>;
}

/**
 * The code of a Python guest isolate: Pyodide and its files as modules (a module name must end
 * in `.js` or `.py`, whatever its type), the harness, and the snapshot to start from (empty for
 * the isolate that makes it).
 */
export function pythonIsolate(
  files: PyodideFiles,
  snapshot: ArrayBuffer,
  globalOutbound: Fetcher | null,
  env: Record<string, string> = {},
): WorkerLoaderWorkerCode {
  return {
    compatibilityDate: GUEST_COMPATIBILITY_DATE,
    // Pyodide takes Node.js's code paths wherever `process.versions.node` is set.
    compatibilityFlags: ["no_nodejs_compat"],
    mainModule: "harness.js",
    modules: {
      "harness.js": harnessSource,
      "shims.js": shimsSource,
      "builtins.js": builtinsSource,
      "json.js": jsonSource,
      "harness.py": { text: pythonHarnessSource },
      "pyodide.js": { js: files.main },
      "pyodide.asm.js": { js: files.asm },
      "pyodide.asm.wasm": { wasm: files.wasm },
      "python_stdlib.zip": { data: files.stdlib },
      "pyodide-lock.json": { json: files.lock },
      "snapshot.bin": { data: snapshot },
    },
    env,
    globalOutbound,
  };
}

/** CPU time a Python isolate may spend starting, on top of its run's timeout. */
const START_CPU_MS = 2_000;

let snapshot: Promise<ArrayBuffer> | undefined;

/**
 * The memory snapshot Python isolates start from: made once per process at first use, in an
 * isolate of its own with no network (a snapshot made outside workerd does not restore in it),
 * and kept in memory. A failed attempt is retried by the next caller.
 */
export function pythonSnapshot(loader: WorkerLoader, files: PyodideFiles): Promise<ArrayBuffer> {
  snapshot ??= makeSnapshot(loader, files).catch((err: unknown) => {
    snapshot = undefined;
    throw err;
  });
  return snapshot;
}

async function makeSnapshot(loader: WorkerLoader, files: PyodideFiles): Promise<ArrayBuffer> {
  const maker = loader.load(pythonIsolate(files, new ArrayBuffer(0), null));
  let made: Uint8Array;
  try {
    made = await maker.getEntrypoint<PythonEntrypoint>().snapshot();
  } catch (err) {
    throw new PythonUnavailable(
      `the Python snapshot could not be made: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return made.byteOffset === 0 && made.byteLength === made.buffer.byteLength
    ? (made.buffer as ArrayBuffer)
    : (made.slice().buffer as ArrayBuffer);
}

/**
 * Runs one Python job in a guest isolate: a one-off isolate started from the snapshot, or the
 * named isolate `job.hash` when `job.reuse` is set. Resolves with the harness's JSON envelope.
 */
export function runPython(
  loader: WorkerLoader,
  files: PyodideFiles,
  snapshot: ArrayBuffer,
  job: PythonJob,
  egress: Fetcher,
  denyAll: () => Fetcher,
  sink: LogReceiver,
): Promise<string> {
  const code = () => pythonIsolate(files, snapshot, denyAll(), job.env);
  const stub = job.reuse ? loader.get(job.hash, code) : loader.load(code());
  // On Cloudflare the platform enforces these; locally the harness's signal check and the
  // runner supervisor do the same job. Starting Pyodide is CPU time too.
  const entrypoint = stub.getEntrypoint<PythonEntrypoint>(undefined, {
    limits: { cpuMs: job.limits.timeoutMs + START_CPU_MS, subRequests: 1_000 },
  });
  return entrypoint.run(job.code, job.input, job.limits, egress, sink, job.session);
}
