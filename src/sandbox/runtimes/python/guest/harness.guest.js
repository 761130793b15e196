// The main module of a Python guest isolate: starts Pyodide (from the memory snapshot when the
// isolate has one), then runs each execution's code through the Python harness
// (harness.guest.py) and answers with the same JSON envelope as the JavaScript harness. It keeps
// its own references to what it uses before any Python runs: Python code reaches JavaScript
// globals through `js`, never this module's state (docs/python.md).
// First, so that Pyodide's modules are evaluated with the shims in place (a bare import keeps
// its place when imports are sorted).
import "shims.js";
import { abortIsolate, env, WorkerEntrypoint } from "cloudflare:workers";
import config from "config.json";
import harnessSource from "harness.py";
import createPyodideModule from "pyodide.asm.js";
import { loadPyodide } from "pyodide.js";
import lockFile from "pyodide-lock.json";
import { INDEX_URL, setOutbound } from "shims.js";
import snapshot from "snapshot.bin";

// Taken before any Python runs: Python code reaches JavaScript globals through `js` and could
// replace what this module would otherwise look up later.
const { apply } = Reflect;
const uncurry =
  (fn) =>
  (self, ...args) =>
    apply(fn, self, args);
const DateCtor = Date;
const PromiseCtor = Promise;
const StringCtor = String;
const TypeErrorCtor = TypeError;
const promiseThen = uncurry(Promise.prototype.then);
const stringStartsWith = uncurry(String.prototype.startsWith);
/** JSON text of a string: JSON.stringify looks nothing up on a string primitive. */
const quote = JSON.stringify;
const now = DateCtor.now;
const parseJson = JSON.parse;
const stringify = JSON.stringify;
const stringSlice = uncurry(String.prototype.slice);
const setTimeoutOriginal = setTimeout;
const clearTimeoutOriginal = clearTimeout;
const RequestCtor = Request;
const headersGet = uncurry(Headers.prototype.get);
const headersSet = uncurry(Headers.prototype.set);
const headersDelete = uncurry(Headers.prototype.delete);
const headersKeys = uncurry(Headers.prototype.keys);
const responseText = uncurry(Response.prototype.text);
const arrayFrom = Array.from;
const encodeComponent = encodeURIComponent;
const toWellFormed = uncurry(String.prototype.toWellFormed);

/** Where the harness module lives in Pyodide's file system while it is imported. */
const HARNESS_PATH = "/lib/python3.14/site-packages/_cordon.py";
/** How many reads of the signal buffer go by between two looks at the clock. */
const READS_PER_CHECK = 32;
/** SIGINT: CPython raises KeyboardInterrupt at its next check. */
const SIGINT = 2;

/** The execution running in this isolate (one at a time: a session's turns are serialised). */
let active;
let reads = 0;

/** Marks the active run as past its deadline; from then on every check interrupts it. */
function stop(run) {
  if (!run.stopped && !run.done) run.stopped = true;
}

/**
 * CPython's periodic signal check reads `[0]` of this (every 50 evaluation-loop checks); a
 * non-zero value is raised as that signal. Reading it is where a computing run meets its
 * deadline: the clock advances during computation wherever workerd runs locally.
 */
const signalBuffer = {
  get 0() {
    const run = active;
    if (run === undefined || run.done) return 0;
    if (run.stopped) return SIGINT;
    if (++reads < READS_PER_CHECK) return 0;
    reads = 0;
    if (now() <= run.deadline) return 0;
    stop(run);
    return SIGINT;
  },
  set 0(_value) {
    // CPython clears the signal it took; a stopped run keeps being interrupted.
  },
};

/** Appends one output entry to the active run, within its caps (as the JavaScript harness). */
function emit(level, message) {
  const run = active;
  if (run === undefined || run.done) return;
  if (run.lines >= run.limits.logLines || run.chars >= run.limits.logBytes) {
    run.dropped++;
    return;
  }
  let text = StringCtor(message);
  const room = run.limits.logBytes - run.chars;
  if (text.length > room) text = stringSlice(text, 0, room);
  run.buf += `${run.buf === "" ? "" : ","}{"level":"${level === "error" ? "error" : "log"}","message":${quote(text)}}`;
  run.lines++;
  run.chars += text.length;
  if (!run.flushScheduled) {
    run.flushScheduled = true;
    setTimeoutOriginal(() => flush(run), 0);
  }
}

/** Sends buffered entries to the control plane while the code runs (when it awaits). */
function flush(run) {
  run.flushScheduled = false;
  if (run.buf === "" || run.done) return;
  const batch = run.buf;
  const dropped = run.dropped;
  run.buf = "";
  const previous = run.pending;
  run.pending = (async () => {
    await previous;
    try {
      await run.sink.log(batch, dropped);
    } catch {
      // The control plane has stopped listening (the run timed out); nothing to deliver to.
    }
  })();
}

/**
 * `fetch` for Python (`pyodide.http.pyfetch`, `js.fetch`): through the execution's egress
 * capability, with the `cordon-*` headers the gateway reads, as the JavaScript harness sends them.
 */
async function guestFetch(resource, init) {
  const run = active;
  if (run === undefined || run.done) {
    throw new TypeErrorCtor("fetch is only available while code is running");
  }
  const asked = new RequestCtor(resource, init);
  // An AbortSignal cannot cross the capability's RPC boundary (pyfetch always passes one): the
  // request goes without it, and an abort here stops waiting for the answer.
  const signal = asked.signal;
  const request = new RequestCtor(asked, { signal: null });
  if (!stringStartsWith(request.url, "http:") && !stringStartsWith(request.url, "https:")) {
    throw new TypeErrorCtor(`fetch(): only http and https URLs are supported: ${request.url}`);
  }
  const headers = request.headers;
  const names = arrayFrom(headersKeys(headers));
  for (let i = 0; i < names.length; i++) {
    if (stringStartsWith(names[i], "cordon-")) headersDelete(headers, names[i]);
  }
  if (typeof resource === "string") {
    headersSet(headers, "cordon-raw-url", encodeComponent(toWellFormed(resource)));
  }
  headersSet(headers, "cordon-redirect", StringCtor(request.redirect));
  const response = await abortable(run.egress.fetch(request), signal);
  const denied = headersGet(response.headers, "cordon-egress-denied");
  if (denied !== null) throw new TypeErrorCtor(await responseText(response));
  return response;
}
setOutbound(guestFetch);

/** `answer` (an RpcPromise: a thenable, not a Promise), or its signal's reason if that aborts first. */
function abortable(answer, signal) {
  if (signal.aborted) return PromiseCtor.reject(signal.reason);
  const settled = new PromiseCtor((resolve) => resolve(answer));
  return new PromiseCtor((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promiseThen(
      settled,
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/**
 * Starts Pyodide: restored from the snapshot module, or (no snapshot) from scratch, then with
 * `packages` (the operator's lock file and wheels) installed before the harness.
 */
async function startPython(makeSnapshot, packages) {
  const restoring = snapshot.byteLength > 0 && !makeSnapshot;
  const py = await loadPyodide({
    indexURL: INDEX_URL,
    // The operator's packages join Pyodide's own in the lock file Pyodide installs from.
    lockFileContents: lockFile,
    createPyodideModule,
    ...(restoring ? { _loadSnapshot: snapshot } : {}),
    ...(makeSnapshot ? { _makeSnapshot: true } : {}),
    // Output that bypasses sys.stdout (os.write to fd 1 or 2) is the run's output too.
    stdout: (line) => emit("log", line),
    stderr: (line) => emit("error", line),
  });
  if (packages !== undefined) await installWheels(py, packages);
  if (!restoring) {
    py.FS.writeFile(HARNESS_PATH, harnessSource);
    py.runPython("import _cordon");
    py.FS.unlink(HARNESS_PATH);
  }
  return py;
}

/**
 * Unpacks the operator's wheels into site-packages, each checked against its lock entry's
 * SHA-256, and imports the modules each entry's `imports` names: into the snapshot, so every run
 * has them and nothing is fetched at run time. (Pyodide's loadPackage leaves JavaScript
 * references that a memory snapshot refuses.) Pure-Python wheels only.
 */
async function installWheels(py, packages) {
  const entries = Object.values(packages.lock.packages);
  const paths = [];
  for (const entry of entries) {
    const bytes = packages.wheels[entry.file_name];
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
    if (hex !== entry.sha256) throw new Error(`${entry.file_name} does not match its sha256`);
    const path = `/tmp/${entry.file_name}`;
    py.FS.writeFile(path, new Uint8Array(bytes));
    paths.push(path);
  }
  // The paths as a JSON string inside a Python string literal: JSON's string escapes are Python's.
  py.runPython(
    [
      "import json, os, site, zipfile",
      `for _w in json.loads(${quote(stringify(paths))}):`,
      "    with zipfile.ZipFile(_w) as _z:",
      "        _z.extractall(site.getsitepackages()[0])",
      "    os.remove(_w)",
      "del _w, _z",
      // A snapshot holds the interpreter's memory, not its file system: what a run can import is
      // what is imported here.
      `for _m in json.loads(${quote(stringify(entries.flatMap((e) => e.imports ?? [])))}):`,
      "    __import__(_m)",
      "del _m",
    ].join("\n"),
  );
}

let started;

/** The interpreter and the harness's `run`, started once per isolate. */
function python() {
  started ??= promiseThen(startPython(false, undefined), (py) => {
    const harness = py.pyimport("_cordon");
    // os.environ: the placeholders of the tenant's secrets, fixed when the isolate was made.
    harness.set_environ(stringify(env ?? {}));
    // The code cannot import the harness; this isolate keeps it.
    py.runPython("import sys, os\nsys.modules.pop('_cordon', None)");
    py.setInterruptBuffer(signalBuffer);
    const memory = py._module.memory;
    return { run: harness.run, memory, startBytes: memory.buffer.byteLength };
  });
  return started;
}

/**
 * Whether this isolate's interpreter should not be kept for a later turn: its wasm memory (which
 * never shrinks) grew past what a kept interpreter may hold.
 */
function grown({ memory, startBytes }) {
  return memory.buffer.byteLength - startBytes > config.keptGrowthMb * 2 ** 20;
}

export default class PythonHarness extends WorkerEntrypoint {
  /**
   * Starts Pyodide from scratch with the operator's packages (`{ lock, wheels }`, if any) and the
   * harness imported, and answers its memory snapshot, for later isolates to start from
   * (../isolate.ts).
   */
  async snapshot(packages) {
    const py = await startPython(true, packages);
    return py.makeMemorySnapshot();
  }

  /**
   * Runs `code` once with `input` and answers with a JSON envelope string:
   * `{ status, result | error, logs, dropped }` and, in a session, `vars` and `files`; last,
   * `"discard": true` when this interpreter should not be kept for the session's next turn.
   * Never throws for anything the code does.
   */
  async run(input, limits, capabilities, session, code) {
    const interpreter = await python();
    const pythonRun = interpreter.run;
    const run = {
      __proto__: null,
      deadline: now() + limits.timeoutMs,
      stopped: false,
      cancelled: false,
      limits,
      // The execution's capabilities: its log sink, cancellation and egress gateway.
      egress: capabilities,
      sink: capabilities,
      buf: "",
      lines: 0,
      chars: 0,
      dropped: 0,
      flushScheduled: false,
      pending: undefined,
      done: false,
    };
    active = run;
    reads = 0;
    if (limits.cancellable) void watchCancel(run);
    let text;
    let timer;
    try {
      // A run that waits past its deadline (a sleep, a fetch) is answered at the deadline; one
      // that computes is interrupted through the signal buffer.
      text = await new PromiseCtor((resolve, reject) => {
        run.expire = () => resolve(undefined);
        timer = setTimeoutOriginal(run.expire, limits.timeoutMs);
        // The harness answers a Python future: a thenable that a promise adopts.
        const answer = new PromiseCtor((settle) =>
          settle(
            pythonRun(
              code,
              stringify(input ?? null),
              limits.resultBytes,
              limits.logBytes,
              emit,
              session === undefined ? undefined : stringify(session),
            ),
          ),
        );
        promiseThen(answer, resolve, reject);
      });
    } catch (thrown) {
      text = thrown;
    }
    clearTimeoutOriginal(timer);
    let body = typeof text === "string" ? envelopeBody(text) : undefined;
    if (run.cancelled) body = `"status":"timeout","reason":"cancelled"`;
    else if (run.stopped) body = `"status":"timeout","reason":"computing"`;
    else if (text === undefined) body = `"status":"timeout","reason":"waiting"`;
    else if (body === undefined) {
      body = `"status":"error","error":{"name":"InternalError","message":${quote(describe(text))}}`;
    }
    const timedOut = run.stopped || text === undefined;
    run.done = true;
    active = undefined;
    await run.pending;
    // Python stopped at an arbitrary point may leave the interpreter inconsistent: a session's
    // interpreter is not kept, and the session starts from its stored variables next time.
    const discard = session !== undefined && (timedOut || grown(interpreter));
    return `{${body},"logs":[${run.buf}],"dropped":${run.dropped}${discard ? ',"discard":true' : ""}}`;
  }

  /** Ends this isolate (its process keeps only so many interpreters). */
  end() {
    abortIsolate("ended by its process");
  }
}

/**
 * The harness's answer without its braces, if it is a JSON object with a status the control plane
 * accepts; Python code could have changed the harness, so its text is checked, not trusted.
 */
function envelopeBody(text) {
  let parsed;
  try {
    parsed = parseJson(text);
  } catch {
    return undefined;
  }
  if (parsed === null || typeof parsed !== "object") return undefined;
  if (parsed.status !== "ok" && parsed.status !== "error") return undefined;
  return stringSlice(text, 1, -1);
}

function describe(thrown) {
  try {
    return StringCtor(thrown?.message ?? thrown);
  } catch {
    return "the Python harness failed";
  }
}

/** Stops a run whose client went away: its code is interrupted at its next check. */
async function watchCancel(run) {
  let cancelled = false;
  try {
    cancelled = await run.sink.waitCancel();
  } catch {
    // The control plane is gone; the deadline still stops the run.
  }
  if (!cancelled || run.done) return;
  run.cancelled = true;
  stop(run);
  run.expire?.();
}
