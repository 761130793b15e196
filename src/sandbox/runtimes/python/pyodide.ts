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
