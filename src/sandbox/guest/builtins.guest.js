// Built-ins the guest harness and its modules rely on, kept before any user code runs:
// code that later replaces a global or a prototype method cannot change what these do.
export const { apply } = Reflect;
export const uncurry =
  (fn) =>
  (self, ...args) =>
    apply(fn, self, args);
const getter = (proto, key) => uncurry(Object.getOwnPropertyDescriptor(proto, key).get);
export const stringify = JSON.stringify;
export const StringCtor = String;
export const isArray = Array.isArray;
export const isView = ArrayBuffer.isView;
export const objectKeys = Object.keys;
export const hasOwn = Object.hasOwn;
export const defineProperty = Object.defineProperty;
export const isFiniteNumber = Number.isFinite;
export const dateGetTime = uncurry(Date.prototype.getTime);
export const dateToISOString = uncurry(Date.prototype.toISOString);
export const regexpToString = uncurry(RegExp.prototype.toString);
export const functionToString = uncurry(Function.prototype.toString);
export const stringStartsWith = uncurry(String.prototype.startsWith);
export const mapEntries = uncurry(Map.prototype.entries);
export const mapGet = uncurry(Map.prototype.get);
export const mapSet = uncurry(Map.prototype.set);
export const mapDelete = uncurry(Map.prototype.delete);
export const setValues = uncurry(Set.prototype.values);
export const mapIteratorNext = uncurry(Object.getPrototypeOf(new Map().entries()).next);
export const setIteratorNext = uncurry(Object.getPrototypeOf(new Set().values()).next);
/** Length of a typed array, through the getter guest code cannot replace. */
export const typedArrayLength = getter(Object.getPrototypeOf(Uint8Array.prototype), "length");
export const dataViewBuffer = getter(DataView.prototype, "buffer");
export const dataViewOffset = getter(DataView.prototype, "byteOffset");
export const dataViewLength = getter(DataView.prototype, "byteLength");
export const MapCtor = Map;
export const SetCtor = Set;
export const DateCtor = Date;
export const RegExpCtor = RegExp;
export const ErrorCtor = Error;
export const TypeErrorCtor = TypeError;
export const PromiseCtor = Promise;
export const promiseThen = uncurry(Promise.prototype.then);
export const ArrayBufferCtor = ArrayBuffer;
export const DataViewCtor = DataView;
export const Uint8ArrayCtor = Uint8Array;

let getBuiltin;
/**
 * A Node.js built-in module, through `process.getBuiltinModule`. `process` is looked up on first
 * use, not when the isolate starts: reaching it makes the runtime build its Node.js process object,
 * more than a millisecond of every fresh isolate, which code that never needs a built-in is spared.
 * A reused isolate calls this before it puts its own `getBuiltinModule` on `process`
 * (modules.guest.js), so this keeps the runtime's.
 */
export function builtinModule(name) {
  getBuiltin ??= globalThis.process.getBuiltinModule;
  return apply(getBuiltin, undefined, [name]);
}

/** `instanceof` that a hostile `Symbol.hasInstance` cannot make throw. */
export const isInstance = (value, ctor) => {
  try {
    return value instanceof ctor;
  } catch {
    return false;
  }
};
