// Seals a one-shot guest isolate before its code runs. Such an isolate serves one execution, so
// nothing in it can reach a later one; what is frozen here is for consistency: the global object,
// the standard built-ins code writes to most and their prototypes, with the same overridable
// properties a reused isolate has (seal-warm.guest.js), so `Array.prototype.last = …` or
// `globalThis.cache = …` throws the same TypeError in the first run of some code as in its later
// runs. It costs hundredths of a millisecond; sealing as a reused isolate does would cost tens
// (docs/isolates.md).
import { enableOverride } from "freeze.js";

/** This isolate serves one execution. */
export const REUSED = false;

const { freeze, getPrototypeOf } = Object;
const { deleteProperty, ownKeys } = Reflect;
const TypedArray = getPrototypeOf(Uint8Array);
const iteratorPrototype = getPrototypeOf(getPrototypeOf([][Symbol.iterator]()));

/**
 * The standard built-ins frozen in every isolate, each with its `prototype`: looked up when the
 * isolate is sealed, after the harness replaced some of them (leftovers.guest.js).
 */
const STANDARD = [
  "Object",
  "Function",
  "Array",
  "Number",
  "Boolean",
  "String",
  "Symbol",
  "BigInt",
  "Date",
  "RegExp",
  "Promise",
  "Map",
  "Set",
  "WeakMap",
  "WeakSet",
  "WeakRef",
  "FinalizationRegistry",
  "Proxy",
  "ArrayBuffer",
  "SharedArrayBuffer",
  "DataView",
  "Int8Array",
  "Uint8Array",
  "Uint8ClampedArray",
  "Int16Array",
  "Uint16Array",
  "Int32Array",
  "Uint32Array",
  "Float16Array",
  "Float32Array",
  "Float64Array",
  "BigInt64Array",
  "BigUint64Array",
  "Error",
  "EvalError",
  "RangeError",
  "ReferenceError",
  "SyntaxError",
  "TypeError",
  "URIError",
  "AggregateError",
  "SuppressedError",
  "Iterator",
  "DisposableStack",
  "AsyncDisposableStack",
  "JSON",
  "Math",
  "Reflect",
  "Atomics",
  "Intl",
];

/**
 * Prototype properties that stay overridable (`null`: all of them): what ses's "severe" override
 * taming leaves overridable in a reused isolate, for the objects frozen here.
 */
const OVERRIDABLE = [
  [Object.prototype, null],
  [Function.prototype, ["toString", "constructor", "bind"]],
  [Error.prototype, ["name", "constructor", "message", "toString"]],
  [TypeError.prototype, ["constructor", "message", "name"]],
  ...[SyntaxError, RangeError, URIError, EvalError, ReferenceError, AggregateError].map((E) => [
    E.prototype,
    ["message", "name"],
  ]),
  [Array.prototype, ["toString", "push", "concat", Symbol.iterator]],
  [Promise.prototype, ["constructor"]],
  [TypedArray.prototype, null],
  [Map.prototype, null],
  [Set.prototype, null],
  [iteratorPrototype, ["toString", "constructor", Symbol.toStringTag, Symbol.iterator]],
];

/** RegExp's legacy static properties hold the last match of the isolate; ses removes them too. */
const LEGACY_REGEXP = [
  "input",
  "$_",
  "lastMatch",
  "$&",
  "lastParen",
  "$+",
  "leftContext",
  "$`",
  "rightContext",
  "$'",
  "$1",
  "$2",
  "$3",
  "$4",
  "$5",
  "$6",
  "$7",
  "$8",
  "$9",
];

/** Freezes what the harness installed (`roots`), the standard built-ins and the global object. */
export function seal({ roots }) {
  for (const [obj, keys] of OVERRIDABLE) {
    for (const key of keys ?? ownKeys(obj)) enableOverride(obj, key);
  }
  for (const name of LEGACY_REGEXP) deleteProperty(RegExp, name);
  deleteProperty(RegExp.prototype, "compile");
  for (const obj of [...STANDARD.map((name) => globalThis[name]), TypedArray]) {
    if (obj === undefined) continue;
    freeze(obj);
    if (typeof obj === "function" && obj.prototype !== undefined) freeze(obj.prototype);
  }
  freeze(iteratorPrototype);
  for (const root of roots) freeze(root);
  freeze(globalThis);
}
