// The main module of every guest isolate. It is evaluated before any user code runs, keeps its
// own references to the built-ins it needs, and reports only through strings it builds itself,
// so guest code that replaces globals or prototypes cannot forge its status, result or logs.
// Once it has installed what guest code reaches (console, fetch, connect, input), `seal`
// freezes the isolate (docs/isolates.md).
// First, so that in a reused isolate ses repairs the intrinsics before any other module is
// evaluated (a bare import keeps its place when imports are sorted).
import "seal.js";
// `cloudflare:sockets` is sockets.guest.js here (see guest.ts).
import * as sockets from "cloudflare:sockets";
import { abortIsolate, WorkerEntrypoint } from "cloudflare:workers";
import {
  apply,
  builtinModule,
  DateCtor,
  defineProperty,
  ErrorCtor,
  hasOwn,
  MapCtor,
  mapDelete,
  mapGet,
  mapSet,
  objectKeys,
  PromiseCtor,
  promiseThen,
  StringCtor,
  stringStartsWith,
  TypeErrorCtor,
  Uint8ArrayCtor,
  uncurry,
} from "builtins.js";
import { currentRun, runInContext, settled } from "context.js";
import { dataJson, quote, resultJson, TOO_LARGE } from "json.js";
import { guardProcess, moduleSpecifier, standInNamespaces } from "modules.js";
import { REUSED, seal } from "seal.js";
import { captureBindings, collectWorkspace, decodeValue, hydrateWorkspace } from "session.js";
import userMain, { __cordon$imported as imported } from "user.js";

const RequestCtor = Request;
const nativeFetch = fetch;
const stringSlice = uncurry(String.prototype.slice);
const regexpExec = uncurry(RegExp.prototype.exec);
const arrayFrom = Array.from;
const headersGet = uncurry(Headers.prototype.get);
const responseText = uncurry(Response.prototype.text);
const setTimeoutOriginal = setTimeout;
const clearTimeoutOriginal = clearTimeout;
const encoder = new TextEncoder();
const encode = uncurry(TextEncoder.prototype.encode);
/** UTF-8 size of a string, computed only when it could be over `cap`. */
const overBytes = (text, cap) => text.length * 3 > cap && encode(encoder, text).byteLength > cap;
const stringIncludes = uncurry(String.prototype.includes);
let formatFn;

/** What node:util's format makes of a value that is neither a string nor an object; else undefined. */
function plainText(value) {
  switch (typeof value) {
    case "number":
      return value === 0 && 1 / value < 0 ? "-0" : `${value}`;
    case "boolean":
      return value ? "true" : "false";
    case "bigint":
      return `${value}n`;
    case "undefined":
      return "undefined";
    case "object":
      return value === null ? "null" : undefined;
    default:
      return undefined;
  }
}

/**
 * node:util's format. Strings, numbers, booleans, bigints, null and undefined with no `%` in a
 * leading string are joined here as it would join them; anything else loads node:util on first
 * use. Loading it (and the `process` object it is reached through) with every isolate would cost
 * milliseconds that code which never logs an object does not need. Code that replaced `process`
 * or node:util before that only changes the text of its own messages; the harness still builds
 * every entry.
 */
function format(...args) {
  let text = "";
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    // Only a leading string is a format string (`%s`, `%o`, `%%` ...).
    const directives = i === 0 && typeof arg === "string" && stringIncludes(arg, "%");
    const part = typeof arg === "string" ? arg : plainText(arg);
    if (directives || part === undefined) {
      formatFn ??= builtinModule("node:util").format;
      return apply(formatFn, undefined, args);
    }
    text = i === 0 ? part : `${text} ${part}`;
  }
  return text;
}

const USER_FRAME = /user\.js:(\d+):(\d+)/;
const now = DateCtor.now;

// Deadline checks compiled into user code (see src/sandbox/instrument.ts). `tick` is on every
// loop iteration and function entry, so it only looks at the clock every TICKS_PER_CHECK calls,
// or on every call while some run of this isolate is stopped but not yet answered.
const TICKS_PER_CHECK = 1024;
let ticks = 0;
let stoppedRuns = 0;

/** Thrown into user code once its run is past its deadline or finished. */
class RunStopped extends ErrorCtor {}

/** Marks a run that has not answered yet as stopped: it will answer `timeout`. */
function stop(run) {
  if (!run.stopped && !run.done) {
    run.stopped = true;
    stoppedRuns++;
  }
}

function check() {
  const run = currentRun();
  if (run === undefined || run.done || now() > run.deadline) {
    if (run !== undefined) stop(run);
    throw new RunStopped("the execution ran past its deadline");
  }
}

function tick() {
  if (++ticks >= TICKS_PER_CHECK || stoppedRuns > 0) {
    ticks = 0;
    check();
  }
}

/** Appends one console entry to the current run, within its caps. */
function emit(level, args) {
  const run = currentRun();
  if (run === undefined || run.done) return;
  if (run.lines >= run.limits.logLines || run.chars >= run.limits.logBytes) {
    run.dropped++;
    return;
  }
  let message;
  try {
    message = StringCtor(apply(format, undefined, args));
  } catch {
    message = "[message could not be formatted]";
  }
  const room = run.limits.logBytes - run.chars;
  if (message.length > room) message = stringSlice(message, 0, room);
  run.buf += `${run.buf === "" ? "" : ","}{"level":"${level}","message":${quote(message)}}`;
  run.lines++;
  run.chars += message.length;
  if (!run.flushScheduled) {
    run.flushScheduled = true;
    setTimeoutOriginal(() => flush(run), 0);
  }
}

/** Sends buffered log entries to the control plane while the code is still running. */
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

/** A run's console.count or console.time labels: each execution has its own. */
function labels(kind) {
  const run = currentRun();
  if (run === undefined) return new MapCtor();
  run[kind] ??= new MapCtor();
  return run[kind];
}

function elapsed(label) {
  const started = mapGet(labels("timers"), StringCtor(label));
  return `${StringCtor(label)}: ${DateCtor.now() - (started ?? DateCtor.now())}ms`;
}

const consoleObject = {
  log: (...args) => emit("log", args),
  info: (...args) => emit("info", args),
  warn: (...args) => emit("warn", args),
  error: (...args) => emit("error", args),
  debug: (...args) => emit("debug", args),
  trace: (...args) => emit("debug", args),
  dir: (value) => emit("log", [value]),
  table: (value) => emit("log", [value]),
  assert: (condition, ...args) => {
    if (!condition) emit("error", ["Assertion failed", ...args]);
  },
  count: (label = "default") => {
    const counters = labels("counters");
    const key = StringCtor(label);
    const n = (mapGet(counters, key) ?? 0) + 1;
    mapSet(counters, key, n);
    emit("log", [`${key}: ${n}`]);
  },
  countReset: (label = "default") => {
    mapDelete(labels("counters"), StringCtor(label));
  },
  time: (label = "default") => {
    mapSet(labels("timers"), StringCtor(label), DateCtor.now());
  },
  timeLog: (label = "default", ...args) => emit("log", [elapsed(label), ...args]),
  timeEnd: (label = "default") => {
    emit("log", [elapsed(label)]);
    mapDelete(labels("timers"), StringCtor(label));
  },
  group: (...args) => {
    if (args.length > 0) emit("log", args);
  },
  groupCollapsed: (...args) => {
    if (args.length > 0) emit("log", args);
  },
  groupEnd: () => {},
};

const headersSet = uncurry(Headers.prototype.set);
const headersDelete = uncurry(Headers.prototype.delete);
const headersKeys = uncurry(Headers.prototype.keys);
const encodeComponent = encodeURIComponent;
const toWellFormed = uncurry(String.prototype.toWellFormed);

/**
 * Outbound requests go through the execution's own egress capability, never the isolate's.
 * `cordon-*` headers carry what the gateway needs besides the request: the URL as the code wrote
 * it (the gateway checks it as well as the parsed one) and the redirect mode (the gateway follows
 * redirects itself). The code cannot set them.
 */
async function guestFetch(resource, init) {
  const run = currentRun();
  const request = new RequestCtor(resource, init);
  if (run === undefined) throw new TypeErrorCtor("fetch is only available while code is running");
  // Only http(s) is an outbound attempt: the runtime serves data: itself and refuses the rest
  // (and whatever it would not refuse meets the isolate's deny-all global outbound).
  if (!stringStartsWith(request.url, "http:") && !stringStartsWith(request.url, "https:")) {
    return nativeFetch(request);
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
  const response = await run.egress.fetch(request);
  const denied = headersGet(response.headers, "cordon-egress-denied");
  if (denied !== null) throw new TypeErrorCtor(await responseText(response));
  return response;
}

const ReadableStreamCtor = ReadableStream;
const TransformStreamCtor = TransformStream;
const getReader = uncurry(ReadableStream.prototype.getReader);
const getWriter = uncurry(WritableStream.prototype.getWriter);
const pipeTo = uncurry(ReadableStream.prototype.pipeTo);
const readerRead = uncurry(ReadableStreamDefaultReader.prototype.read);
const readerCancel = uncurry(ReadableStreamDefaultReader.prototype.cancel);
const writerWrite = uncurry(WritableStreamDefaultWriter.prototype.write);
const writerRelease = uncurry(WritableStreamDefaultWriter.prototype.releaseLock);
const bytesIndexOf = uncurry(Uint8Array.prototype.indexOf);
const bytesSubarray = uncurry(Uint8Array.prototype.subarray);
const bytesSet = uncurry(Uint8Array.prototype.set);
const decoder = new TextDecoder();
const decode = uncurry(TextDecoder.prototype.decode);
const parseJson = JSON.parse;
const ignore = () => {};
/** The gateway's status line is short; anything longer is not one. */
const MAX_STATUS_BYTES = 65536;

function concatBytes(a, b) {
  const out = new Uint8ArrayCtor(a.length + b.length);
  bytesSet(out, a, 0);
  bytesSet(out, b, a.length);
  return out;
}

/**
 * connect() from cloudflare:sockets (see sockets.guest.js): a socket to the execution's gateway.
 * The harness first sends the target in a preamble line and waits for the gateway's status line,
 * so a denied connect rejects `opened` (and errors both streams) with a TypeError that names the
 * rule; only then do bytes flow. TLS to the target is the gateway's job ("on"); STARTTLS is not
 * supported.
 */
function connectThroughGateway(address, options) {
  const run = currentRun();
  if (run === undefined) throw new TypeErrorCtor("connect is only available while code is running");
  const secureTransport = options?.secureTransport ?? "off";
  if (secureTransport !== "off" && secureTransport !== "on") {
    throw new TypeErrorCtor(
      `connect(): secureTransport "${StringCtor(secureTransport)}" is not supported through the egress gateway (use "off" or "on")`,
    );
  }
  const target =
    typeof address === "string"
      ? address
      : { hostname: StringCtor(address?.hostname), port: +address?.port };
  const inner = run.egress.connect(target);
  let outgoingController;
  const outgoing = new TransformStreamCtor({
    start(controller) {
      outgoingController = controller;
    },
  });
  const reader = getReader(inner.readable);
  let leftover;
  const opened = (async () => {
    const writer = getWriter(inner.writable);
    await writerWrite(
      writer,
      encode(encoder, `${dataJson({ address: target, secureTransport })}\n`),
    );
    writerRelease(writer);
    let head = new Uint8ArrayCtor(0);
    for (;;) {
      const { done, value } = await readerRead(reader);
      if (done) throw new TypeErrorCtor("connect(): the egress gateway closed the connection");
      head = concatBytes(head, value);
      const newline = bytesIndexOf(head, 10);
      if (newline !== -1) {
        leftover = bytesSubarray(head, newline + 1);
        let status;
        try {
          status = parseJson(decode(decoder, bytesSubarray(head, 0, newline)));
        } catch {}
        if (status?.ok !== true) {
          throw new TypeErrorCtor(StringCtor(status?.message ?? "connect() was refused"));
        }
        break;
      }
      if (head.length > MAX_STATUS_BYTES) {
        throw new TypeErrorCtor("connect(): the egress gateway sent no status");
      }
    }
    promiseThen(pipeTo(outgoing.readable, inner.writable), undefined, ignore);
    return await inner.opened;
  })();
  promiseThen(opened, undefined, (err) => {
    try {
      outgoingController.error(err);
    } catch {}
    promiseThen(readerCancel(reader, err), undefined, ignore);
    promiseThen(inner.close(), undefined, ignore);
  });
  const closed = promiseThen(opened, () => inner.closed);
  promiseThen(closed, undefined, ignore);
  const readable = new ReadableStreamCtor({
    async pull(controller) {
      await opened;
      if (leftover !== undefined && leftover.length > 0) {
        const chunk = leftover;
        leftover = undefined;
        controller.enqueue(chunk);
        return;
      }
      const { done, value } = await readerRead(reader);
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return readerCancel(reader, reason);
    },
  });
  return {
    __proto__: null,
    readable,
    writable: outgoing.writable,
    opened,
    closed,
    upgraded: false,
    secureTransport,
    close() {
      try {
        outgoingController.terminate();
      } catch {}
      return promiseThen(inner.close(), () => undefined);
    },
    startTls() {
      throw new TypeErrorCtor(
        'startTls() is not supported through the egress gateway: connect with { secureTransport: "on" }',
      );
    },
  };
}

/** Reads a thrown value without letting its getters break the harness. */
function describeError(thrown) {
  let name = "Error";
  let message = "";
  let stack = "";
  try {
    if (thrown !== null && (typeof thrown === "object" || typeof thrown === "function")) {
      name = StringCtor(thrown.name ?? "Error");
      message = StringCtor(thrown.message ?? "");
      stack = StringCtor(thrown.stack ?? "");
    } else {
      message = apply(format, undefined, [thrown]);
    }
  } catch {
    message = message || "[thrown value could not be read]";
  }
  let location = "";
  const match = regexpExec(USER_FRAME, stack);
  if (match !== null) location = `,"line":${+match[1]},"column":${+match[2]}`;
  return `{"name":${quote(name)},"message":${quote(message)}${location}}`;
}

async function runUserCode(slots, input) {
  await userMain(slots, input, tick, check);
  if (hasOwn(slots, "d")) {
    const exported = slots.d;
    return typeof exported === "function" ? await exported(input) : await exported;
  }
  return await slots.l;
}

/** Stops a run whose client went away: its code gets RunStopped at its next check. */
async function watchCancel(run) {
  let cancelled = false;
  try {
    cancelled = await run.sink.waitCancel();
  } catch {
    // The control plane is gone; the deadline still stops the run.
  }
  if (!cancelled || run.done) return;
  run.cancelled = true;
  run.deadline = -1;
  stop(run);
  run.expire?.();
}

/** The result part of an answer: the value as JSON, or why it has none. */
function resultBody(value, cap) {
  let json;
  try {
    json = resultJson(value, cap);
  } catch (err) {
    if (err !== TOO_LARGE) {
      const message = `the result could not be converted to JSON: ${describeErrorMessage(err)}`;
      return `"status":"error","error":{"name":"ResultNotSerializable","message":${quote(message)}}`;
    }
  }
  return json === undefined || overBytes(json, cap)
    ? `"status":"error","error":{"name":"ResultTooLarge","message":"the result is larger than ${cap} bytes"}`
    : `"status":"ok","result":${json}`;
}

/**
 * One execution, inside its own context: the code, its result, the promises it handed to
 * waitUntil and, in a session, what it left. Answers the envelope's body. Getters, `toJSON` and
 * Proxy traps met on the way are the code's own, so they run here too, under its deadline.
 */
async function execute(run, slots, input, session, before) {
  let body;
  try {
    body = resultBody(await runUserCode(slots, input), run.limits.resultBytes);
  } catch (thrown) {
    body = `"status":"error","error":${describeError(thrown)}`;
  }
  if (run.holds > 0) await settled(run);
  if (session) {
    // As in a REPL, what the code declared and wrote stays, whether it finished or threw.
    body += `,"vars":${captureBindings(slots.v)},"files":${collectWorkspace(before)}`;
  }
  return body;
}

// What guest code reaches of the harness; then the isolate is sealed before any of it runs.
defineProperty(globalThis, "input", { get: () => currentRun()?.input, enumerable: true });
globalThis.console = consoleObject;
globalThis.fetch = guestFetch;
sockets.__cordonInstall(connectThroughGateway);
if (REUSED) guardProcess();
seal({ load: builtinModule, roots: [consoleObject, ...standInNamespaces()], imported });

export default class Harness extends WorkerEntrypoint {
  /**
   * Runs the user's module once and answers with a JSON envelope string:
   * `{ status, result | error, logs, dropped }`. Never throws.
   */
  async run(input, limits, egress, sink, session) {
    const run = {
      __proto__: null,
      input,
      deadline: now() + limits.timeoutMs,
      stopped: false,
      cancelled: false,
      limits,
      egress,
      sink,
      buf: "",
      lines: 0,
      chars: 0,
      dropped: 0,
      flushScheduled: false,
      pending: undefined,
      done: false,
      // Promises handed to waitUntil that have not settled yet (context.guest.js).
      holds: 0,
      idle: undefined,
      expire: undefined,
      counters: undefined,
      timers: undefined,
    };
    const slots = { __proto__: null, in: { __proto__: null }, m: moduleSpecifier };
    const names = session ? objectKeys(session.values) : [];
    for (let i = 0; i < names.length; i++) {
      try {
        slots.in[names[i]] = decodeValue(session.values[names[i]]);
      } catch {
        // A value that cannot be decoded is left undefined rather than failing the run.
      }
    }
    // Only code that may reach node:fs needs the workspace made (src/sandbox/executor.ts):
    // loading node:fs costs every fresh isolate milliseconds.
    const before = session || limits.workspace ? hydrateWorkspace(session?.files) : undefined;
    if (limits.cancellable) void watchCancel(run);
    let body;
    let timer;
    try {
      // Answering at the deadline ends this call's I/O context, which cancels the timers and
      // callbacks the code left behind, so nothing of it keeps running afterwards.
      body = await new PromiseCtor((resolve, reject) => {
        run.expire = () => resolve(undefined);
        timer = setTimeoutOriginal(run.expire, limits.timeoutMs);
        promiseThen(
          runInContext(run, execute, run, slots, input, session, before),
          resolve,
          reject,
        );
      });
    } catch (thrown) {
      body = `"status":"error","error":${describeError(thrown)}`;
    }
    clearTimeoutOriginal(timer);
    // Once stopped, the run timed out whatever the code did with the RunStopped error.
    const timedOut = body === undefined || run.stopped;
    if (run.cancelled) body = `"status":"timeout","reason":"cancelled"`;
    else if (run.stopped) body = `"status":"timeout","reason":"computing"`;
    else if (body === undefined) body = `"status":"timeout","reason":"waiting"`;
    if (run.stopped) stoppedRuns--;
    run.done = true;
    await run.pending;
    // Something of a run that timed out may still be pending. Its request ends with this answer,
    // and that ends its timers and I/O; a reused isolate is also replaced, so whatever the runtime
    // might still hold of it cannot meet a later execution (docs/isolates.md).
    if (REUSED && timedOut) abortIsolate("an execution timed out in this isolate");
    return `{${body},"logs":[${run.buf}],"dropped":${run.dropped}}`;
  }
}

function describeErrorMessage(err) {
  try {
    return StringCtor(err?.message ?? err);
  } catch {
    return "unknown error";
  }
}
