// The guest's console: every entry is built by the harness as JSON text, within the run's caps,
// and sent to the control plane in batches while the code runs.
import {
  apply,
  builtinModule,
  DateCtor,
  MapCtor,
  mapDelete,
  mapGet,
  mapSet,
  StringCtor,
  uncurry,
} from "./builtins";
import { currentRun, type Run } from "./context";
import { quote } from "./json";

const stringSlice = uncurry(String.prototype.slice);
const stringIncludes = uncurry(String.prototype.includes);
const setTimeoutOriginal = setTimeout;
let formatFn: ((...args: unknown[]) => string) | undefined;

/** What node:util's format makes of a value that is neither a string nor an object; else undefined. */
function plainText(value: unknown): string | undefined {
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
export function format(...args: unknown[]): string {
  let text = "";
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    // Only a leading string is a format string (`%s`, `%o`, `%%` ...).
    const directives = i === 0 && typeof arg === "string" && stringIncludes(arg, "%");
    const part = typeof arg === "string" ? arg : plainText(arg);
    if (directives || part === undefined) {
      formatFn ??= builtinModule("node:util").format as (...args: unknown[]) => string;
      return apply(formatFn, undefined, args);
    }
    text = i === 0 ? part : `${text} ${part}`;
  }
  return text;
}

/** Appends one console entry to the current run, within its caps. */
function emit(level: string, args: unknown[]): void {
  const run = currentRun();
  if (run === undefined || run.done) return;
  if (run.lines >= run.limits.logLines || run.chars >= run.limits.logBytes) {
    run.dropped++;
    return;
  }
  let message: string;
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
function flush(run: Run): void {
  run.flushScheduled = false;
  if (run.buf === "" || run.done) return;
  const batch = run.buf;
  const dropped = run.dropped;
  run.buf = "";
  const previous = run.pending;
  run.pending = (async () => {
    await previous;
    try {
      await run.capabilities.log(batch, dropped);
    } catch {
      // The control plane has stopped listening (the run timed out); nothing to deliver to.
    }
  })();
}

/** A run's console.count or console.time labels: each execution has its own. */
function labels(kind: "counters" | "timers"): Map<string, number> {
  const run = currentRun();
  if (run === undefined) return new MapCtor();
  run[kind] ??= new MapCtor();
  return run[kind];
}

function elapsed(label: unknown): string {
  const started = mapGet(labels("timers"), StringCtor(label));
  return `${StringCtor(label)}: ${DateCtor.now() - (started ?? DateCtor.now())}ms`;
}

/** The guest's `console`. */
export const consoleObject = {
  log: (...args: unknown[]) => emit("log", args),
  info: (...args: unknown[]) => emit("info", args),
  warn: (...args: unknown[]) => emit("warn", args),
  error: (...args: unknown[]) => emit("error", args),
  debug: (...args: unknown[]) => emit("debug", args),
  trace: (...args: unknown[]) => emit("debug", args),
  dir: (value: unknown) => emit("log", [value]),
  table: (value: unknown) => emit("log", [value]),
  assert: (condition: unknown, ...args: unknown[]) => {
    if (!condition) emit("error", ["Assertion failed", ...args]);
  },
  count: (label: unknown = "default") => {
    const counters = labels("counters");
    const key = StringCtor(label);
    const n = (mapGet(counters, key) ?? 0) + 1;
    mapSet(counters, key, n);
    emit("log", [`${key}: ${n}`]);
  },
  countReset: (label: unknown = "default") => {
    mapDelete(labels("counters"), StringCtor(label));
  },
  time: (label: unknown = "default") => {
    mapSet(labels("timers"), StringCtor(label), DateCtor.now());
  },
  timeLog: (label: unknown = "default", ...args: unknown[]) =>
    emit("log", [elapsed(label), ...args]),
  timeEnd: (label: unknown = "default") => {
    emit("log", [elapsed(label)]);
    mapDelete(labels("timers"), StringCtor(label));
  },
  group: (...args: unknown[]) => {
    if (args.length > 0) emit("log", args);
  },
  groupCollapsed: (...args: unknown[]) => {
    if (args.length > 0) emit("log", args);
  },
  groupEnd: () => {},
};
