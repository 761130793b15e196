// JSON text the harness writes into its answer, built without consulting anything guest code can
// change: JSON.stringify is only ever given a string primitive (on an object it looks up `toJSON`,
// Array.prototype.toJSON included, and a missing value turns the answer into invalid JSON), and
// no iterator, array method or array write is used that a replaced prototype could intercept.
import {
  ArrayBufferCtor,
  apply,
  DataViewCtor,
  DateCtor,
  dataViewBuffer,
  dataViewLength,
  dataViewOffset,
  dateGetTime,
  dateToISOString,
  ErrorCtor,
  functionToString,
  isArray,
  isFiniteNumber,
  isInstance,
  isView,
  MapCtor,
  mapEntries,
  mapIteratorNext,
  objectKeys,
  RegExpCtor,
  regexpToString,
  SetCtor,
  StringCtor,
  setIteratorNext,
  setValues,
  stringify,
  stringStartsWith,
  typedArrayLength,
  Uint8ArrayCtor,
} from "./builtins";

/** JSON text of a string: JSON.stringify looks nothing up on a string primitive. */
export const quote = (text: string): string => stringify(text);

/** JSON text of a finite number, else `null`, as JSON.stringify writes it. */
const number = (n: number) => (isFiniteNumber(n) ? `${n}` : "null");

/**
 * JSON text of data the harness built itself: strings, numbers, booleans, null, arrays of them
 * and objects of them (read through their own keys).
 */
export function dataJson(value: unknown): string {
  switch (typeof value) {
    case "string":
      return quote(value);
    case "number":
      return number(value);
    case "boolean":
      return value ? "true" : "false";
    default:
      break;
  }
  if (value === null || typeof value !== "object") return "null";
  let out = "";
  if (isArray(value)) {
    for (let i = 0; i < value.length; i++) out += `${i === 0 ? "" : ","}${dataJson(value[i])}`;
    return `[${out}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = objectKeys(record);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    out += `${i === 0 ? "" : ","}${quote(key)}:${dataJson(record[key])}`;
  }
  return `{${out}}`;
}

/** Thrown by `resultJson` once the text would be longer than its cap. */
export const TOO_LARGE = Object.freeze({ __proto__: null });

interface WriteState {
  __proto__?: null;
  ancestors: { __proto__?: null; [depth: number]: unknown };
  depth: number;
  length: number;
  cap: number;
}

/**
 * JSON text of a guest value by the rule in docs/guest.md (undefined, NaN and Infinity as null,
 * BigInt as digits, Date, Map, Set, typed arrays, RegExp, Error, functions, symbols, cycles,
 * `toJSON`, nesting past 100 levels). Throws TOO_LARGE as soon as the text passes `cap`
 * characters, so a huge result is never built whole; throws what the value's own code throws.
 * Getters, `toJSON` and Proxy traps are guest code: call it inside the run's context.
 */
export function resultJson(value: unknown, cap: number): string {
  const state: WriteState = {
    __proto__: null,
    ancestors: { __proto__: null },
    depth: 0,
    length: 0,
    cap,
  };
  return write(value, state);
}

function leaf(state: WriteState, text: string): string {
  state.length += text.length;
  if (state.length > state.cap) throw TOO_LARGE;
  return text;
}

function write(value: unknown, state: WriteState): string {
  switch (typeof value) {
    case "undefined":
      return leaf(state, "null");
    case "number":
      return leaf(state, number(value));
    case "bigint":
    case "symbol":
      return leaf(state, quote(StringCtor(value)));
    case "string":
      // Its JSON text is at least this long: a string past the cap is refused before a copy of
      // it is made (a 64 MiB result would otherwise double in memory on its way to TOO_LARGE).
      if (value.length + 2 > state.cap - state.length) throw TOO_LARGE;
      return leaf(state, quote(value));
    case "boolean":
      return leaf(state, value ? "true" : "false");
    case "function":
      return leaf(state, quote(describeFunction(value)));
    default:
      break;
  }
  if (value === null) return leaf(state, "null");
  const { ancestors, depth } = state;
  for (let i = 0; i < depth; i++) if (ancestors[i] === value) return leaf(state, '"[Circular]"');
  if (depth >= 100) return leaf(state, '"[Too deep]"');
  ancestors[depth] = value;
  state.depth = depth + 1;
  try {
    return writeObject(value as object, state);
  } finally {
    state.depth = depth;
  }
}

/** A guest object, read as the code made it: any property may be there, a getter or a trap. */
type GuestObject = Record<PropertyKey, unknown>;

function writeObject(value: object, state: WriteState): string {
  if (isInstance(value, DateCtor)) {
    const date = value as Date;
    return leaf(state, isFiniteNumber(dateGetTime(date)) ? quote(dateToISOString(date)) : "null");
  }
  let out = "";
  if (isInstance(value, MapCtor)) {
    const iterator = mapEntries(value as Map<unknown, unknown>);
    for (let step = mapIteratorNext(iterator); !step.done; step = mapIteratorNext(iterator)) {
      const pair = `[${write(step.value[0], state)},${write(step.value[1], state)}]`;
      out += out === "" ? pair : `,${pair}`;
    }
    return `[${out}]`;
  }
  if (isInstance(value, SetCtor)) {
    const iterator = setValues(value as Set<unknown>);
    for (let step = setIteratorNext(iterator); !step.done; step = setIteratorNext(iterator)) {
      out += `${out === "" ? "" : ","}${write(step.value, state)}`;
    }
    return `[${out}]`;
  }
  if (isArray(value)) {
    for (let i = 0; i < value.length; i++) out += `${i === 0 ? "" : ","}${write(value[i], state)}`;
    return `[${out}]`;
  }
  if (isView(value) || isInstance(value, ArrayBufferCtor)) {
    const items: ArrayLike<unknown> = isInstance(value, DataViewCtor)
      ? new Uint8ArrayCtor(
          dataViewBuffer(value) as ArrayBuffer,
          dataViewOffset(value) as number,
          dataViewLength(value) as number,
        )
      : isIndexedView(value)
        ? value
        : new Uint8ArrayCtor(value as ArrayBuffer);
    const length = typedArrayLength(items) as number;
    for (let i = 0; i < length; i++) {
      const item = items[i];
      out += `${i === 0 ? "" : ","}${leaf(state, typeof item === "bigint" ? quote(StringCtor(item)) : number(item as number))}`;
    }
    return `[${out}]`;
  }
  if (isInstance(value, RegExpCtor)) return leaf(state, quote(regexpToString(value as RegExp)));
  const object = value as GuestObject;
  if (isInstance(value, ErrorCtor)) {
    const name = leaf(state, quote(StringCtor(object.name)));
    return `{"name":${name},"message":${leaf(state, quote(StringCtor(object.message)))}}`;
  }
  const toJSON = object.toJSON;
  if (typeof toJSON === "function") return write(apply(toJSON, value, []), state);
  const keys = objectKeys(value);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const item = object[key];
    if (item !== undefined) {
      out += `${out === "" ? "" : ","}${leaf(state, quote(key))}:${write(item, state)}`;
    }
  }
  return `{${out}}`;
}

/** A typed array: the one kind of view left once DataViews are taken apart. */
function isIndexedView(value: object): value is ArrayLike<unknown> {
  return isView(value);
}

function describeFunction(fn: { name?: unknown }): string {
  let source = "";
  try {
    source = functionToString(fn);
  } catch {}
  const name = typeof fn.name === "string" && fn.name !== "" ? fn.name : "(anonymous)";
  return stringStartsWith(source, "class") ? `[class ${name}]` : `[Function: ${name}]`;
}
