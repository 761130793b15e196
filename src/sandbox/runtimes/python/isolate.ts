import { GUEST_COMPATIBILITY_DATE, PYTHON_LIMITS } from "../../../config";
import type { IsolateCode } from "../types";
import harnessSource from "./guest/harness.guest.js";
import pythonHarnessSource from "./guest/harness.guest.py";
import shimsSource from "./guest/shims.guest.js";
import { type PyodideFiles, type PythonPackages, PythonUnavailable } from "./pyodide";

interface SnapshotEntrypoint extends Rpc.WorkerEntrypointBranded {
  snapshot(packages: PythonPackages | undefined): Promise<Uint8Array>;
}

/**
 * The code of a Python guest isolate: Pyodide and its files as modules (a module name must end
 * in `.js` or `.py`, whatever its type), the harness and the snapshot to start from (empty for
 * the isolate that makes it). The code comes with each run.
 */
export function pythonIsolate(files: PyodideFiles, snapshot: ArrayBuffer): IsolateCode {
  return {
    // Pyodide takes Node.js's code paths wherever `process.versions.node` is set.
    compatibilityFlags: ["no_nodejs_compat"],
    mainModule: "harness.js",
    modules: {
      "harness.js": harnessSource,
      "shims.js": shimsSource,
      "harness.py": { text: pythonHarnessSource },
      "config.json": { json: { keptGrowthMb: PYTHON_LIMITS.keptGrowthMb } },
      "pyodide.js": { js: files.main },
      "pyodide.asm.js": { js: files.asm },
      "pyodide.asm.wasm": { wasm: files.wasm },
      "python_stdlib.zip": { data: files.stdlib },
      "pyodide-lock.json": { json: files.lock },
      "snapshot.bin": { data: snapshot },
    },
  };
}

/**
 * Makes the memory snapshot Python isolates start from, in an isolate of its own with no network
 * (a snapshot made outside workerd does not restore in it), with the operator's packages installed.
 */
export async function makeSnapshot(
  loader: WorkerLoader,
  files: PyodideFiles,
  packages: PythonPackages | undefined,
): Promise<ArrayBuffer> {
  const maker = loader.load({
    compatibilityDate: GUEST_COMPATIBILITY_DATE,
    ...pythonIsolate(files, new ArrayBuffer(0)),
    globalOutbound: null,
  });
  let made: Uint8Array;
  try {
    made = await maker.getEntrypoint<SnapshotEntrypoint>().snapshot(packages);
  } catch (err) {
    throw new PythonUnavailable(
      `the Python snapshot could not be made: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
  return made.byteOffset === 0 && made.byteLength === made.buffer.byteLength
    ? (made.buffer as ArrayBuffer)
    : (made.slice().buffer as ArrayBuffer);
}
