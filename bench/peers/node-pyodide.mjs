// Peer: Pyodide loaded afresh for every execution in Node, the way a Node service would run
// untrusted Python without a sandbox of its own: a new worker thread per execution (so runs use
// every core and share nothing), `loadPyodide()` in it, then the code. What `loadPyodide()` costs
// is what Cordon's per-runner memory snapshot avoids.
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { servePeer } from "./http.mjs";

const PYODIDE = join(import.meta.dirname, "../../node_modules/pyodide/pyodide.js");
const TIMEOUT_MS = 30_000;

// The worker's code, inline so each execution starts from nothing but Node itself. The value of
// the last expression is the result (as Cordon answers it); a PyProxy is converted to JSON data.
const WORKER = `
const { parentPort, workerData } = require("node:worker_threads");
const { loadPyodide } = require(workerData.pyodide);
(async () => {
  const py = await loadPyodide();
  try {
    let result = await py.runPythonAsync(workerData.code);
    if (result && typeof result.toJs === "function") {
      const proxy = result;
      result = proxy.toJs({ dict_converter: Object.fromEntries });
      proxy.destroy();
    }
    parentPort.postMessage({ status: "ok", result: result ?? null });
  } catch (err) {
    parentPort.postMessage({
      status: "error",
      error: { name: String(err?.type ?? err?.name ?? "Error"), message: String(err?.message ?? err) },
    });
  }
})();
`;

/** Runs `code` in a new worker with a new Pyodide; resolves with its result or rejects. */
export function run(code) {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER, { eval: true, workerData: { pyodide: PYODIDE, code } });
    const timer = setTimeout(() => {
      // The worker's exit settles nothing more: the promise is rejected here.
      void worker.terminate();
      reject(new Error(`no answer within ${TIMEOUT_MS} ms`));
    }, TIMEOUT_MS);
    worker.once("message", (answer) => {
      clearTimeout(timer);
      // Its interpreter and wasm memory go with the thread; the answer does not wait for that.
      void worker.terminate();
      if (answer.status === "ok") resolve(answer.result);
      else reject(Object.assign(new Error(answer.error.message), { name: answer.error.name }));
    });
    worker.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

if (import.meta.url === `file://${process.argv[1]}`) servePeer("node-pyodide", run);
