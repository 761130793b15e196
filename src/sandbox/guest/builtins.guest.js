// Built-ins the guest harness and its session module rely on, kept before any user code runs:
// code that later replaces a global or a prototype method cannot change what these do.
export const { apply } = Reflect;
export const uncurry =
  (fn) =>
  (self, ...args) =>
    apply(fn, self, args);
export const stringify = JSON.stringify;
export const StringCtor = String;
export const isArray = Array.isArray;
export const isView = ArrayBuffer.isView;
export const objectKeys = Object.keys;
export const isFiniteNumber = Number.isFinite;
export const dateGetTime = uncurry(Date.prototype.getTime);
export const mapEntries = uncurry(Map.prototype.entries);
export const setValues = uncurry(Set.prototype.values);
export const mapIteratorNext = uncurry(Object.getPrototypeOf(new Map().entries()).next);
export const setIteratorNext = uncurry(Object.getPrototypeOf(new Set().values()).next);
export const MapCtor = Map;
export const SetCtor = Set;
export const DateCtor = Date;
export const RegExpCtor = RegExp;
export const ArrayBufferCtor = ArrayBuffer;
export const Uint8ArrayCtor = Uint8Array;

let getBuiltin;
/**
 * A Node.js built-in module, through `process.getBuiltinModule`. `process` is looked up on first
 * use, not when the isolate starts: reaching it makes the runtime build its Node.js process object,
 * more than a millisecond of every fresh isolate, which code that never needs a built-in is spared.
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
