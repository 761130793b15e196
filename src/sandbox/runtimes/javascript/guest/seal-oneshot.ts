// Seals a one-shot guest isolate before its code runs. Such an isolate serves one execution, so
// nothing in it can reach a later one; what is done here is for consistency with a reused isolate
// (seal-reused.ts), at a cost of a fraction of a millisecond, where sealing as a reused isolate
// does would cost tens (docs/isolates.md): the global object, the namespaces, console and
// Promise.prototype are frozen, and the standard constructors and prototypes take no new
// properties, so `globalThis.cache = …`, `JSON.parse = …` or `Array.prototype.last = …` throw the
// same TypeError in the first run of some code as in its later runs. Replacing an existing method
// of a standard constructor or prototype (`Array.prototype.push = …`) is refused only in a reused
// isolate: freezing those needs ses's override accessors, which cost a one-shot isolate
// milliseconds, and host modules loaded later assign statics on subclasses (node:buffer's
// `Buffer.from`).
import type { Seal } from "./harness";

const { freeze, getPrototypeOf, preventExtensions } = Object;
/** A global by name (a constructor or namespace of the list below, if the runtime has it). */
const named = (name: string): { prototype?: object } | undefined => Reflect.get(globalThis, name);
const TypedArray = getPrototypeOf(Uint8Array);
const iteratorPrototype = getPrototypeOf(getPrototypeOf([][Symbol.iterator]()));

/**
 * The standard constructors, looked up when the isolate is sealed, after the harness replaced
 * some of them (leftovers.ts).
 */
const CONSTRUCTORS = [
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
];
const NAMESPACES = ["JSON", "Math", "Reflect", "Atomics", "Intl", "console"];

/**
 * Freezes the built-ins above, console being the harness's by then; what the harness passes is
 * for a reused isolate (seal-reused.ts).
 */
export const seal: Seal = () => {
  // The harness awaits promises after the code has run: their `then` and `constructor` must be
  // the runtime's. (Making `constructor` overridable on the code's own promises, as ses does in a
  // reused isolate, costs a one-shot isolate half a millisecond: V8 then leaves its fast paths.)
  freeze(Promise.prototype);
  for (const name of CONSTRUCTORS) {
    const ctor = named(name);
    if (ctor === undefined) continue;
    preventExtensions(ctor);
    if (ctor.prototype !== undefined) preventExtensions(ctor.prototype);
  }
  preventExtensions(TypedArray);
  preventExtensions(TypedArray.prototype);
  preventExtensions(iteratorPrototype);
  for (const name of NAMESPACES) freeze(named(name));
  freeze(globalThis);
};
