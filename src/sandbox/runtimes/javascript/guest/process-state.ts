// In a reused isolate `process` is frozen with everything else (seal-reused.ts), yet some of it is
// state the runtime changes whenever code uses it: the stdio streams (a write counts its pending
// callback in `_writableState`, stdin finishes opening a tick after it is made) and the listeners
// `process.on` adds (`process._events`). Frozen, `process.stdout.write` and `process.on` throw;
// shared, a later execution would meet what an earlier one left there (a listener, a corked
// stream). So each execution gets its own, the way it gets its own `input`: `process.stdin`,
// `process.stdout` and `process.stderr` answer streams made for the running execution on first
// use, writing where the runtime's do (the same log entries), and `process._events` and its
// companions are the running execution's. A one-shot isolate serves one execution and keeps the
// runtime's own.
import { apply, defineProperty, processObject, TypeErrorCtor, uncurry } from "./builtins";
import { currentRun } from "./context";

const { create, freeze, getOwnPropertyDescriptor, getPrototypeOf, hasOwn } = Object;
const ObjectPrototype = Object.prototype;
const { construct, ownKeys } = Reflect;
const { isArray } = Array;
const arraySlice = uncurry(Array.prototype.slice);

/** What of `process` belongs to one execution; made when the execution first reaches it. */
export interface ProcessState {
  __proto__?: null;
  stdin?: unknown;
  stdout?: unknown;
  stderr?: unknown;
  /** `process._events`, `_eventsCount`, `_maxListeners`, as node:events keeps them. */
  events?: object;
  eventsCount: number;
  maxListeners: unknown;
}

type Stdio = "stdin" | "stdout" | "stderr";
/** How the runtime makes each stream (its `node:process`): stdin reads nothing, like `< /dev/null`. */
const STDIO: [Stdio, (Stream: new (...args: never[]) => object) => object][] = [
  [
    "stdin",
    (ReadStream) => {
      const stream = construct(ReadStream, [null, { fd: 0, autoClose: false }]);
      defineProperty(stream, "fd", { value: 0, writable: true, enumerable: true });
      return stream;
    },
  ],
  ["stdout", (SyncWriteStream) => construct(SyncWriteStream, [1])],
  ["stderr", (SyncWriteStream) => construct(SyncWriteStream, [2])],
];

/** The running execution's share of `process`, or undefined outside any execution. */
function state(): ProcessState | undefined {
  const run = currentRun();
  if (run === undefined) return undefined;
  run.process ??= { __proto__: null, eventsCount: runtimeCount, maxListeners: runtimeMax };
  return run.process;
}

/** The listeners the runtime put on `process` (its `newListener` hook), as each execution starts. */
let runtimeEvents: Record<PropertyKey, unknown> = create(null);
let runtimeCount = 0;
let runtimeMax: unknown;

/** A copy of `events` that a listener added or removed changes alone (node:events' shape). */
function copyEvents(events: Record<PropertyKey, unknown>): Record<PropertyKey, unknown> {
  const copy: Record<PropertyKey, unknown> = create(null);
  for (const key of ownKeys(events)) {
    const listeners = events[key];
    copy[key] = isArray(listeners) ? arraySlice(listeners) : listeners;
  }
  return copy;
}

/** An object by its properties. */
type Props = Record<PropertyKey, unknown>;

/**
 * Makes the runtime's stream, which node:process also exports by name (`import { stdout } from
 * "node:process"`, out of reach of the getter on `process`), stand for the running execution's:
 * its properties, methods and accessors answer and act on `current()`. Outside any execution
 * (the runtime finishes opening stdin a tick after the isolate starts, and emits on it) they act
 * on a copy of the runtime's stream that no guest code reaches. Assigning its properties throws,
 * as on anything sealed.
 */
function standFor(runtime: object, current: () => Props | undefined): void {
  const kept: Props = create(getPrototypeOf(runtime));
  const target = () => current() ?? kept;
  for (const key of ownKeys(runtime)) {
    const desc = getOwnPropertyDescriptor(runtime, key) as PropertyDescriptor;
    if (!desc.configurable || !("value" in desc)) continue;
    defineProperty(kept, key, desc);
    defineProperty(runtime, key, {
      get: () => target()[key],
      enumerable: desc.enumerable,
      configurable: false,
    });
  }
  for (let proto = getPrototypeOf(runtime); proto !== null && proto !== ObjectPrototype; ) {
    for (const key of ownKeys(proto)) {
      if (key === "constructor" || hasOwn(runtime, key)) continue;
      const desc = getOwnPropertyDescriptor(proto, key) as PropertyDescriptor;
      if (typeof desc.value === "function") {
        defineProperty(runtime, key, {
          value: (...args: unknown[]) => {
            const stream = target();
            return apply(stream[key] as () => unknown, stream, args);
          },
          enumerable: desc.enumerable,
        });
      } else if (desc.get !== undefined) {
        defineProperty(runtime, key, { get: () => target()[key], enumerable: desc.enumerable });
      }
    }
    proto = getPrototypeOf(proto);
  }
}

function outsideRun(): never {
  throw new TypeErrorCtor("process listeners belong to an execution: none is running");
}

/**
 * Makes `process`'s stdio streams and listeners per execution. Called once, before the isolate
 * is sealed; outside any execution they answer the runtime's streams and no listeners. Answers
 * the runtime's streams, for the seal to freeze.
 */
export function perRunProcess(): object[] {
  const process = processObject() as unknown as Record<PropertyKey, unknown>;
  const streams: object[] = [];
  for (const [name, make] of STDIO) {
    const runtime = process[name] as object;
    const Stream = getPrototypeOf(runtime).constructor;
    const current = () => {
      const own = state();
      if (own === undefined) return undefined;
      own[name] ??= make(Stream);
      return own[name] as Props;
    };
    standFor(runtime, current);
    defineProperty(process, name, {
      get: () => current() ?? runtime,
      enumerable: true,
      configurable: false,
    });
    streams.push(runtime);
  }
  runtimeEvents = copyEvents((process._events ?? create(null)) as Record<PropertyKey, unknown>);
  runtimeCount = (process._eventsCount as number | undefined) ?? 0;
  runtimeMax = process._maxListeners;
  const none = freeze(copyEvents(runtimeEvents));
  defineProperty(process, "_events", {
    get: () => {
      const own = state();
      if (own === undefined) return none;
      own.events ??= copyEvents(runtimeEvents);
      return own.events;
    },
    set: (events: object) => {
      (state() ?? outsideRun()).events = events;
    },
    configurable: false,
  });
  defineProperty(process, "_eventsCount", {
    get: () => state()?.eventsCount ?? 0,
    set: (count: number) => {
      (state() ?? outsideRun()).eventsCount = count;
    },
    configurable: false,
  });
  defineProperty(process, "_maxListeners", {
    get: () => state()?.maxListeners,
    set: (max: unknown) => {
      (state() ?? outsideRun()).maxListeners = max;
    },
    configurable: false,
  });
  return streams;
}
