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
} from "builtins.js";

/** JSON text of a string: JSON.stringify looks nothing up on a string primitive. */
export const quote = (text) => stringify(text);

/** JSON text of a finite number, else `null`, as JSON.stringify writes it. */
const number = (n) => (isFiniteNumber(n) ? `${n}` : "null");

/**
 * JSON text of data the harness built itself: strings, numbers, booleans, null, arrays of them
 * and objects of them (read through their own keys).
 */
export function dataJson(value) {
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
  const keys = objectKeys(value);
  for (let i = 0; i < keys.length; i++) {
    out += `${i === 0 ? "" : ","}${quote(keys[i])}:${dataJson(value[keys[i]])}`;
  }
  return `{${out}}`;
}

/** Thrown by `resultJson` once the text would be longer than its cap. */
export const TOO_LARGE = Object.freeze({ __proto__: null });

/**
 * JSON text of a guest value by the rule in docs/guest.md (undefined, NaN and Infinity as null,
 * BigInt as digits, Date, Map, Set, typed arrays, RegExp, Error, functions, symbols, cycles,
 * `toJSON`, nesting past 100 levels). Throws TOO_LARGE as soon as the text passes `cap`
 * characters, so a huge result is never built whole; throws what the value's own code throws.
 * Getters, `toJSON` and Proxy traps are guest code: call it inside the run's context.
 */
export function resultJson(value, cap) {
  const state = { __proto__: null, ancestors: { __proto__: null }, depth: 0, length: 0, cap };
  return write(value, state);
}

function leaf(state, text) {
  state.length += text.length;
  if (state.length > state.cap) throw TOO_LARGE;
  return text;
}

function write(value, state) {
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
    return writeObject(value, state);
  } finally {
    state.depth = depth;
  }
}

function writeObject(value, state) {
  if (isInstance(value, DateCtor)) {
    return leaf(state, isFiniteNumber(dateGetTime(value)) ? quote(dateToISOString(value)) : "null");
  }
  let out = "";
  if (isInstance(value, MapCtor)) {
    const iterator = mapEntries(value);
    for (let step = mapIteratorNext(iterator); !step.done; step = mapIteratorNext(iterator)) {
      const pair = `[${write(step.value[0], state)},${write(step.value[1], state)}]`;
      out += out === "" ? pair : `,${pair}`;
    }
    return `[${out}]`;
  }
  if (isInstance(value, SetCtor)) {
    const iterator = setValues(value);
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
    const items = isInstance(value, DataViewCtor)
      ? new Uint8ArrayCtor(dataViewBuffer(value), dataViewOffset(value), dataViewLength(value))
      : isView(value)
        ? value
        : new Uint8ArrayCtor(value);
    const length = typedArrayLength(items);
    for (let i = 0; i < length; i++) {
      const item = items[i];
      out += `${i === 0 ? "" : ","}${leaf(state, typeof item === "bigint" ? quote(StringCtor(item)) : number(item))}`;
    }
    return `[${out}]`;
  }
  if (isInstance(value, RegExpCtor)) return leaf(state, quote(regexpToString(value)));
  if (isInstance(value, ErrorCtor)) {
    const name = leaf(state, quote(StringCtor(value.name)));
    return `{"name":${name},"message":${leaf(state, quote(StringCtor(value.message)))}}`;
  }
  const toJSON = value.toJSON;
  if (typeof toJSON === "function") return write(apply(toJSON, value, []), state);
  const keys = objectKeys(value);
  for (let i = 0; i < keys.length; i++) {
    const item = value[keys[i]];
    if (item !== undefined) {
      out += `${out === "" ? "" : ","}${leaf(state, quote(keys[i]))}:${write(item, state)}`;
    }
  }
  return `{${out}}`;
}

function describeFunction(fn) {
  let source = "";
  try {
    source = functionToString(fn);
  } catch {}
  const name = typeof fn.name === "string" && fn.name !== "" ? fn.name : "(anonymous)";
  return stringStartsWith(source, "class") ? `[class ${name}]` : `[Function: ${name}]`;
}
