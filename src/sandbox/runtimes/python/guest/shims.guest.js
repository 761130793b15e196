// What Pyodide needs of its host that a Worker Loader isolate lacks or refuses, installed before
// Pyodide's modules are evaluated (docs/python.md). Its own files come from the isolate's
// modules, never from the network; everything else `fetch` is asked goes to `guestFetch`, which
// the harness sets to the execution's egress gateway.

import wasm from "pyodide.asm.wasm";
import stdlib from "python_stdlib.zip";

/** Where Pyodide believes it was loaded from; nothing is ever fetched from there. */
export const INDEX_URL = "https://pyodide.invalid/";

const ResponseCtor = Response;
const stringStartsWith = (text, prefix) => String.prototype.startsWith.call(text, prefix);
const stringEndsWith = (text, suffix) => String.prototype.endsWith.call(text, suffix);

let outbound = () => Promise.reject(new TypeError("fetch is only available while code is running"));

/** Sets where requests for anything but Pyodide's own files go. */
export function setOutbound(fetcher) {
  outbound = fetcher;
}

/** Pyodide's own files by URL; `undefined` for any other URL. */
function ownFile(url) {
  if (!stringStartsWith(url, INDEX_URL)) return undefined;
  if (stringEndsWith(url, "/python_stdlib.zip")) return new ResponseCtor(stdlib);
  // The wasm is instantiated from the module below, whatever this answers.
  if (stringEndsWith(url, ".wasm")) return new ResponseCtor(new Uint8Array(0));
  return new ResponseCtor("not found", { status: 404 });
}

// Pyodide resolves its files against `location`.
globalThis.location = INDEX_URL;
globalThis.fetch = (resource, init) => {
  const url = typeof resource === "string" ? resource : `${resource?.url ?? resource}`;
  const own = ownFile(url);
  return own === undefined ? outbound(resource, init) : Promise.resolve(own);
};
// An isolate refuses to compile wasm from bytes, and the promises of WebAssembly's asynchronous
// compile and instantiate are settled by V8 tasks that workerd does not count as pending work:
// now and then it took the isolate for hung and cancelled its request. So everything here is
// done synchronously. Pyodide's own wasm was compiled by the runtime from the module map; the
// small helper Pyodide compiles when its module loads is refused at once (Pyodide then uses its
// JavaScript fallback).
const ModuleCtor = WebAssembly.Module;
const InstanceCtor = WebAssembly.Instance;
WebAssembly.compile = (bytes) => {
  try {
    return Promise.resolve(new ModuleCtor(bytes));
  } catch (err) {
    return Promise.reject(err);
  }
};
WebAssembly.instantiateStreaming = async (_response, imports) => ({
  instance: new InstanceCtor(wasm, imports),
  module: wasm,
});
// Without them Emscripten schedules through a capturing message listener, which workerd refuses.
globalThis.setImmediate ??= (callback, ...args) => setTimeout(callback, 0, ...args);
globalThis.clearImmediate ??= (timer) => clearTimeout(timer);
