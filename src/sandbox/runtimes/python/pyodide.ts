/**
 * Pyodide's files and its memory snapshot, as the process that makes Python guest isolates holds
 * them: read once through the `PYODIDE` binding (the worker's static assets on Cloudflare and
 * under vitest, a read-only disk service self-hosted) and kept in memory, never bundled into the
 * worker (docs/python.md).
 */

/** What a Python guest isolate is made of besides the harness. */
export interface PyodideFiles {
  /** pyodide.asm.mjs: Emscripten's module factory. */
  asm: string;
  /** pyodide.mjs: `loadPyodide`. */
  main: string;
  wasm: ArrayBuffer;
  /** python_stdlib.zip. */
  stdlib: ArrayBuffer;
  /** pyodide-lock.json, parsed. */
  lock: unknown;
}

/** Every file name the binding must serve, by what it is. */
export const PYODIDE_FILES = {
  asm: "pyodide.asm.mjs",
  main: "pyodide.mjs",
  wasm: "pyodide.asm.wasm",
  stdlib: "python_stdlib.zip",
  lock: "pyodide-lock.json",
} as const;

let files: Promise<PyodideFiles> | undefined;

/** Pyodide's files, read through `binding` on first use; a failed read is retried next time. */
export function pyodideFiles(binding: Fetcher | undefined): Promise<PyodideFiles> {
  files ??= readFiles(binding).catch((err: unknown) => {
    files = undefined;
    throw err;
  });
  return files;
}

async function readFiles(binding: Fetcher | undefined): Promise<PyodideFiles> {
  if (!binding) throw new PythonUnavailable("this server has no PYODIDE binding");
  const read = async (name: string) => {
    const res = await binding.fetch(`https://pyodide.assets/${name}`);
    if (!res.ok) {
      await res.body?.cancel();
      throw new PythonUnavailable(`${name} could not be read (${res.status})`);
    }
    return res;
  };
  const [asm, main, wasm, stdlib, lock] = await Promise.all([
    // A disk service answers .mjs as application/octet-stream: decoded here, not by text().
    read(PYODIDE_FILES.asm).then(utf8),
    read(PYODIDE_FILES.main).then(utf8),
    read(PYODIDE_FILES.wasm).then((r) => r.arrayBuffer()),
    read(PYODIDE_FILES.stdlib).then((r) => r.arrayBuffer()),
    read(PYODIDE_FILES.lock).then((r) => r.json()),
  ]);
  return { asm, main, wasm, stdlib, lock };
}

async function utf8(res: Response): Promise<string> {
  return new TextDecoder().decode(await res.arrayBuffer());
}

/** Python cannot run here: Pyodide's files are missing or its snapshot could not be made. */
export class PythonUnavailable extends Error {
  override readonly name = "PythonUnavailable";
}

/** The operator's third-party packages: their lock file and wheels by file name. */
export interface PythonPackages {
  lock: { packages: Record<string, { file_name: string }> };
  wheels: Record<string, ArrayBuffer>;
}

/**
 * The operator's packages (CORDON_PYODIDE_PACKAGES) through `binding`: its `pyodide-lock.json`
 * and every wheel that names; undefined without a binding.
 */
export async function pythonPackages(
  binding: Fetcher | undefined,
): Promise<PythonPackages | undefined> {
  if (!binding) return undefined;
  const read = async (name: string) => {
    const res = await binding.fetch(`https://pyodide.packages/${encodeURIComponent(name)}`);
    if (!res.ok) {
      await res.body?.cancel();
      throw new PythonUnavailable(`package file ${name} could not be read (${res.status})`);
    }
    return res;
  };
  const lock = JSON.parse(await utf8(await read("pyodide-lock.json"))) as PythonPackages["lock"];
  if (typeof lock?.packages !== "object" || lock.packages === null) {
    throw new PythonUnavailable("the packages' pyodide-lock.json lists no packages");
  }
  const wheels: Record<string, ArrayBuffer> = {};
  for (const entry of Object.values(lock.packages)) {
    wheels[entry.file_name] = await (await read(entry.file_name)).arrayBuffer();
  }
  return { lock, wheels };
}
