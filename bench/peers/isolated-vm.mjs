// Peer: a fresh isolated-vm Isolate and Context for every execution, in one Node process. It is
// the closest Node-side alternative to Cordon's model (a V8 isolate per run, no process per run).
import ivm from "isolated-vm";
import { servePeer } from "./http.mjs";

const TIMEOUT_MS = 10_000;
const MEMORY_MB = 128;

// The isolate has no fetch of its own; this one forwards to the host's (no egress policy: a peer
// measures the cost of the hop, not of the checks Cordon's gateway makes).
const hostFetch = new ivm.Reference(async (url, method, body) => {
  const res = await fetch(url, { method, body: body ?? undefined });
  return new ivm.ExternalCopy({ status: res.status, body: await res.text() }).copyInto();
});

const BOOTSTRAP = `{
  const call = __hostFetch;
  delete globalThis.__hostFetch;
  globalThis.fetch = async (url, init = {}) => {
    const r = await call.apply(undefined, [String(url), init.method ?? "GET", init.body ?? null], {
      result: { promise: true, copy: true },
    });
    return {
      status: r.status,
      ok: r.status >= 200 && r.status < 300,
      text: async () => r.body,
      json: async () => JSON.parse(r.body),
    };
  };
}`;

/** Runs `code` as a script in a new isolate; resolves with its completion value (awaited). */
export async function run(code) {
  const isolate = new ivm.Isolate({ memoryLimit: MEMORY_MB });
  let timer;
  try {
    const context = await isolate.createContext();
    await context.global.set("__hostFetch", hostFetch);
    await context.eval(BOOTSTRAP);
    const script = await isolate.compileScript(code);
    // `timeout` bounds only the synchronous part; the timer bounds awaiting a returned promise.
    const result = script.run(context, { promise: true, copy: true, timeout: TIMEOUT_MS });
    const expired = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("execution timed out")), TIMEOUT_MS);
    });
    return await Promise.race([result, expired]);
  } finally {
    clearTimeout(timer);
    isolate.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) servePeer("isolated-vm", run);
