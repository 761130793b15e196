// The main module of every guest isolate. It is evaluated before any user code runs, keeps its
// own references to the built-ins it needs, and reports only through strings it builds itself,
// so guest code that replaces globals or prototypes cannot forge its status, result or logs.
import { WorkerEntrypoint } from "cloudflare:workers";
import { AsyncLocalStorage } from "node:async_hooks";
import { format } from "node:util";
import userMain from "user.js";

const { apply } = Reflect;
const uncurry =
  (fn) =>
  (self, ...args) =>
    apply(fn, self, args);
const stringify = JSON.stringify;
const StringCtor = String;
const TypeErrorCtor = TypeError;
const RequestCtor = Request;
const isArray = Array.isArray;
const isView = ArrayBuffer.isView;
const objectKeys = Object.keys;
const hasOwn = Object.hasOwn;
const isFiniteNumber = Number.isFinite;
const stringSlice = uncurry(String.prototype.slice);
const stringStartsWith = uncurry(String.prototype.startsWith);
const regexpExec = uncurry(RegExp.prototype.exec);
const regexpToString = uncurry(RegExp.prototype.toString);
const functionToString = uncurry(Function.prototype.toString);
const dateGetTime = uncurry(Date.prototype.getTime);
const dateToISOString = uncurry(Date.prototype.toISOString);
const mapEntries = uncurry(Map.prototype.entries);
const setValues = uncurry(Set.prototype.values);
const mapIteratorNext = uncurry(Object.getPrototypeOf(new Map().entries()).next);
const setIteratorNext = uncurry(Object.getPrototypeOf(new Set().values()).next);
const arrayFrom = Array.from;
const headersGet = uncurry(Headers.prototype.get);
const responseText = uncurry(Response.prototype.text);
const setTimeoutOriginal = setTimeout;
const clearTimeoutOriginal = clearTimeout;
const PromiseCtor = Promise;
const promiseThen = uncurry(Promise.prototype.then);
const encoder = new TextEncoder();
const encode = uncurry(TextEncoder.prototype.encode);
/** UTF-8 size of a string, computed only when it could be over `cap`. */
const overBytes = (text, cap) => text.length * 3 > cap && encode(encoder, text).byteLength > cap;
const MapCtor = Map;
const SetCtor = Set;
const DateCtor = Date;
const RegExpCtor = RegExp;
const ErrorCtor = Error;
const ArrayBufferCtor = ArrayBuffer;
const Uint8ArrayCtor = Uint8Array;
const isInstance = (value, ctor) => {
  try {
    return value instanceof ctor;
  } catch {
    return false;
  }
};

const context = new AsyncLocalStorage();
const currentRun = context.getStore.bind(context);
const runInContext = context.run.bind(context);
const USER_FRAME = /user\.js:(\d+):(\d+)/;
const now = DateCtor.now;

// Deadline checks compiled into user code (see src/sandbox/instrument.ts). `tick` is on every
// loop iteration and function entry, so it only looks at the clock every TICKS_PER_CHECK calls,
// or on every call once some run in this isolate has been stopped.
const TICKS_PER_CHECK = 1024;
let ticks = 0;
let stoppedRuns = 0;

/** Thrown into user code once its run is past its deadline or finished. */
class RunStopped extends ErrorCtor {}

function check() {
  const run = currentRun();
  if (run === undefined || run.done || now() > run.deadline) {
    if (run !== undefined && !run.stopped) {
      run.stopped = true;
      stoppedRuns++;
    }
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
  run.buf += `${run.buf === "" ? "" : ","}{"level":"${level}","message":${stringify(message)}}`;
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

const counters = new MapCtor();
const timers = new MapCtor();
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
    const n = (counters.get(label) ?? 0) + 1;
    counters.set(label, n);
    emit("log", [`${label}: ${n}`]);
  },
  countReset: (label = "default") => counters.delete(label),
  time: (label = "default") => timers.set(label, DateCtor.now()),
  timeLog: (label = "default", ...args) =>
    emit("log", [`${label}: ${DateCtor.now() - (timers.get(label) ?? DateCtor.now())}ms`, ...args]),
  timeEnd: (label = "default") => {
    emit("log", [`${label}: ${DateCtor.now() - (timers.get(label) ?? DateCtor.now())}ms`]);
    timers.delete(label);
  },
  group: (...args) => {
    if (args.length > 0) emit("log", args);
  },
  groupCollapsed: (...args) => {
    if (args.length > 0) emit("log", args);
  },
  groupEnd: () => {},
};
globalThis.console = consoleObject;

/** Outbound requests go through the execution's own egress capability, never the isolate's. */
async function guestFetch(resource, init) {
  const run = currentRun();
  const request = new RequestCtor(resource, init);
  if (run === undefined) throw new TypeErrorCtor("fetch is only available while code is running");
  const response = await run.egress.fetch(request);
  const denied = headersGet(response.headers, "cordon-egress-denied");
  if (denied !== null) throw new TypeErrorCtor(await responseText(response));
  return response;
}
globalThis.fetch = guestFetch;

/** Turns any value into one JSON can carry, by the rule in docs/guest.md. */
function toJsonValue(value, ancestors) {
  switch (typeof value) {
    case "undefined":
      return null;
    case "number":
      return isFiniteNumber(value) ? value : null;
    case "bigint":
      return StringCtor(value);
    case "string":
    case "boolean":
      return value;
    case "symbol":
      return StringCtor(value);
    case "function":
      return describeFunction(value);
    default:
      break;
  }
  if (value === null) return null;
  for (let i = 0; i < ancestors.length; i++) if (ancestors[i] === value) return "[Circular]";
  if (ancestors.length >= 100) return "[Too deep]";
  const inner = [...ancestors, value];
  if (isInstance(value, DateCtor)) {
    const time = dateGetTime(value);
    return isFiniteNumber(time) ? dateToISOString(value) : null;
  }
  if (isInstance(value, MapCtor)) {
    const out = [];
    const iterator = mapEntries(value);
    for (let step = mapIteratorNext(iterator); !step.done; step = mapIteratorNext(iterator)) {
      out[out.length] = [toJsonValue(step.value[0], inner), toJsonValue(step.value[1], inner)];
    }
    return out;
  }
  if (isInstance(value, SetCtor)) {
    const out = [];
    const iterator = setValues(value);
    for (let step = setIteratorNext(iterator); !step.done; step = setIteratorNext(iterator)) {
      out[out.length] = toJsonValue(step.value, inner);
    }
    return out;
  }
  if (isArray(value)) {
    const out = [];
    for (let i = 0; i < value.length; i++) out[i] = toJsonValue(value[i], inner);
    return out;
  }
  if (isView(value)) return arrayFrom(value, (n) => (typeof n === "bigint" ? StringCtor(n) : n));
  if (isInstance(value, ArrayBufferCtor)) return arrayFrom(new Uint8ArrayCtor(value));
  if (isInstance(value, RegExpCtor)) return regexpToString(value);
  if (isInstance(value, ErrorCtor)) {
    return { __proto__: null, name: StringCtor(value.name), message: StringCtor(value.message) };
  }
  if (typeof value.toJSON === "function") return toJsonValue(value.toJSON(), inner);
  const out = { __proto__: null };
  const keys = objectKeys(value);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const item = value[key];
    if (item !== undefined) out[key] = toJsonValue(item, inner);
  }
  return out;
}

function describeFunction(fn) {
  let source = "";
  try {
    source = functionToString(fn);
  } catch {}
  const name = typeof fn.name === "string" && fn.name !== "" ? fn.name : "(anonymous)";
  return stringStartsWith(source, "class") ? `[class ${name}]` : `[Function: ${name}]`;
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
  return `{"name":${stringify(name)},"message":${stringify(message)}${location}}`;
}

async function runUserCode(slots, input) {
  await userMain(slots, input, tick, check);
  if (hasOwn(slots, "d")) {
    const exported = slots.d;
    return typeof exported === "function" ? await exported(input) : await exported;
  }
  return await slots.l;
}

export default class Harness extends WorkerEntrypoint {
  /**
   * Runs the user's module once and answers with a JSON envelope string:
   * `{ status, result | error, logs, dropped }`. Never throws.
   */
  async run(input, limits, egress, sink) {
    const run = {
      __proto__: null,
      deadline: now() + limits.timeoutMs,
      stopped: false,
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
    };
    const slots = { __proto__: null };
    try {
      globalThis.input = input;
    } catch {}
    let body;
    let timer;
    const expired = {};
    try {
      // Answering at the deadline ends this call's I/O context, which cancels the timers and
      // callbacks the code left behind, so nothing of it keeps running afterwards.
      const value = await new PromiseCtor((resolve, reject) => {
        timer = setTimeoutOriginal(() => resolve(expired), limits.timeoutMs);
        promiseThen(runInContext(run, runUserCode, slots, input), resolve, reject);
      });
      if (value === expired) throw expired;
      let json;
      try {
        json = stringify(toJsonValue(value, []));
      } catch (err) {
        json = undefined;
        body = `"status":"error","error":{"name":"ResultNotSerializable","message":${stringify(`the result could not be converted to JSON: ${describeErrorMessage(err)}`)}}`;
      }
      if (json !== undefined) {
        body = overBytes(json, limits.resultBytes)
          ? `"status":"error","error":{"name":"ResultTooLarge","message":"the result is larger than ${limits.resultBytes} bytes"}`
          : `"status":"ok","result":${json}`;
      }
    } catch (thrown) {
      body =
        thrown === expired
          ? `"status":"timeout","reason":"waiting"`
          : `"status":"error","error":${describeError(thrown)}`;
    }
    clearTimeoutOriginal(timer);
    // Once stopped, the run timed out whatever the code did with the RunStopped error.
    if (run.stopped) body = `"status":"timeout","reason":"computing"`;
    run.done = true;
    await run.pending;
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
