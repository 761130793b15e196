// Built-ins the guest harness and its modules rely on, kept before any user code runs: code that
// later replaces a global or a prototype method cannot change what these do.

export const { apply } = Reflect;

/** A method as a function of its receiver: `uncurry(Map.prototype.get)(map, key)`. */
export const uncurry =
  <This, Args extends unknown[], Result>(fn: (this: This, ...args: Args) => Result) =>
  (self: This, ...args: Args): Result =>
    apply(fn, self, args);

/** An accessor's getter as a function of its receiver. */
export function getter(proto: object, key: PropertyKey): (self: unknown) => unknown {
  const get = Object.getOwnPropertyDescriptor(proto, key)?.get;
  if (get === undefined) throw new TypeError(`no getter for ${String(key)}`);
  return uncurry(get);
}

export const stringify = JSON.stringify;
export const parseJson = JSON.parse;
export const freeze = Object.freeze;
export const ProxyCtor = Proxy;
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
const mapNext: () => unknown = Object.getPrototypeOf(new Map().entries()).next;
const setNext: () => unknown = Object.getPrototypeOf(new Set().values()).next;
/** The next step of a Map iterator, through the `next` guest code cannot replace. */
export function mapIteratorNext<T>(iterator: Iterator<T>): IteratorResult<T> {
  return apply(mapNext, iterator, []) as IteratorResult<T>;
}
/** The next step of a Set iterator, through the `next` guest code cannot replace. */
export function setIteratorNext<T>(iterator: Iterator<T>): IteratorResult<T> {
  return apply(setNext, iterator, []) as IteratorResult<T>;
}
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
const then = Promise.prototype.then;
/** `promise.then(…)` through the `then` guest code cannot replace. */
export function promiseThen<T, Fulfilled = T, Rejected = never>(
  promise: Promise<T>,
  onFulfilled?: ((value: T) => Fulfilled | PromiseLike<Fulfilled>) | undefined,
  onRejected?: ((reason: unknown) => Rejected | PromiseLike<Rejected>) | undefined,
): Promise<Fulfilled | Rejected> {
  return apply(then, promise, [onFulfilled, onRejected]);
}
/**
 * A native promise of what an RPC call answers: the stub's answer is a thenable (an RpcPromise),
 * which `promiseThen` cannot take.
 */
export function settled<T>(answer: PromiseLike<T>): Promise<T> {
  return new PromiseCtor((resolve) => resolve(answer));
}
export const ArrayBufferCtor = ArrayBuffer;
export const DataViewCtor = DataView;
export const Uint8ArrayCtor = Uint8Array;

/** What `process.getBuiltinModule` answers: a module's exports, whatever they are. */
// biome-ignore lint/suspicious/noExplicitAny: a built-in module's exports are whatever the runtime made
export type BuiltinModule = any;

let getBuiltin: ((name: string) => BuiltinModule) | undefined;
/**
 * A Node.js built-in module, through `process.getBuiltinModule`. `process` is looked up on first
 * use, not when the isolate starts: reaching it makes the runtime build its Node.js process object,
 * more than a millisecond of every fresh isolate, which code that never needs a built-in is spared.
 * A reused isolate calls this before it puts its own `getBuiltinModule` on `process`
 * (modules.ts), so this keeps the runtime's.
 */
export function builtinModule(name: string): BuiltinModule {
  getBuiltin ??= processObject().getBuiltinModule;
  return apply(getBuiltin, undefined, [name]);
}

/** The runtime's `process` (workers-types leave it untyped). */
export function processObject(): { getBuiltinModule: (name: string) => BuiltinModule } {
  return globalThis.process;
}

/** A constructor or a function `instanceof` accepts (BigInt is no constructor, yet it has one). */
export type Constructor =
  | (abstract new (
      ...args: never[]
    ) => unknown)
  | ((...args: never[]) => unknown);

/** `instanceof` that a hostile `Symbol.hasInstance` cannot make throw. */
export const isInstance = (value: unknown, ctor: Constructor): boolean => {
  try {
    return value instanceof ctor;
  } catch {
    return false;
  }
};
