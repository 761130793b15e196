// Freezes everything guest code can reach in a reused isolate (seal-reused.ts), after ses has
// frozen the intrinsics. A frozen object makes a write throw a TypeError instead of leaving
// something behind for a later execution; override accessors keep the ordinary writes
// (`stream._read = …`, `emitter._events = …` on an object of one's own) working.
const { defineProperty, freeze, getOwnPropertyDescriptor, getPrototypeOf, isExtensible } = Object;
const { ownKeys, preventExtensions } = Reflect;
const isView = ArrayBuffer.isView;
const TypeErrorCtor = TypeError;
const StringCtor = String;
const SetCtor = Set;
const toStringTag = Symbol.toStringTag;
const isIndex = (key: PropertyKey) => typeof key === "string" && `${+key >>> 0}` === key;

/**
 * Turns a data property of a prototype that is about to be frozen into an accessor, so objects
 * that inherit it can still assign their own (ses calls this enabling property overrides, and does
 * it for the intrinsics; without it JavaScript refuses the assignment: the "override mistake").
 * Answers the getter and setter, which are to be frozen too.
 */
function enableOverride(obj: object, key: PropertyKey, desc: PropertyDescriptor): object[] {
  const value = desc.value;
  const get = () => value;
  const set = function (this: object, next: unknown) {
    if (this === obj) {
      throw new TypeErrorCtor(`Cannot assign to read only property '${StringCtor(key)}'`);
    }
    defineProperty(this, key, {
      value: next,
      writable: true,
      enumerable: true,
      configurable: true,
    });
  };
  defineProperty(obj, key, { get, set, enumerable: desc.enumerable, configurable: true });
  return [get, set];
}

/** An ES module namespace object: it cannot be frozen, and only its module can change it. */
function isNamespace(obj: object): boolean {
  return (
    getPrototypeOf(obj) === null && getOwnPropertyDescriptor(obj, toStringTag)?.value === "Module"
  );
}

/** Freezes one object; a typed array keeps its elements writable, as ses's harden does. */
function freezeOne(obj: object): boolean {
  try {
    freeze(obj);
    return true;
  } catch {}
  if (!isView(obj)) {
    // A Proxy (process.env) may refuse to be frozen yet refuse every write: enough, if it also
    // refuses new properties.
    try {
      preventExtensions(obj);
    } catch {}
    return !isExtensible(obj);
  }
  preventExtensions(obj);
  for (const key of ownKeys(obj)) {
    if (!isIndex(key)) {
      try {
        defineProperty(obj, key, { configurable: false, writable: false });
      } catch {}
    }
  }
  return true;
}

/**
 * Freezes everything reachable from `roots` through own properties (values, getters, setters)
 * and prototypes, except what is frozen already. Objects reached as a prototype get their data
 * properties made overridable first (except those in `plain`: the global object's own chain, whose
 * properties only the global object inherits). On other objects an accessor with a setter keeps
 * state the walk cannot see (`util.inspect.defaultOptions`, `EventEmitter.defaultMaxListeners`):
 * it becomes a read-only property holding what its getter answers, which is frozen in turn.
 * Answers how many objects could not be frozen.
 */
export function freezeAll(roots: unknown[], plain: object[]): number {
  const seen = new SetCtor<object>();
  const asPrototype = new SetCtor<object>();
  const order: object[] = [];
  const stack: object[] = [];
  const reach = (value: unknown, prototype: boolean) => {
    if (value === null || (typeof value !== "object" && typeof value !== "function")) return;
    if (prototype) asPrototype.add(value);
    if (seen.has(value)) return;
    seen.add(value);
    stack.push(value);
  };
  for (const root of roots) reach(root, false);
  for (const obj of plain) reach(obj, false);
  while (stack.length > 0) {
    const obj = stack.pop() as object;
    order.push(obj);
    // A function's own prototype is the class it extends: its properties are static members,
    // which nobody overrides by assignment, and V8 reads some of them as data (the original
    // Error's stackTraceLimit, reached from node:assert's AssertionError).
    reach(getPrototypeOf(obj), typeof obj !== "function" && !isNamespace(obj));
    for (const key of ownKeys(obj)) {
      let desc: PropertyDescriptor | undefined;
      try {
        desc = getOwnPropertyDescriptor(obj, key);
      } catch {
        continue; // a namespace binding not yet initialised
      }
      if (desc === undefined) continue;
      if ("value" in desc) reach(desc.value, key === "prototype" && typeof obj === "function");
      else {
        reach(desc.get, false);
        reach(desc.set, false);
        if (desc.set !== undefined && !asPrototype.has(obj)) {
          let value: unknown;
          try {
            value = desc.get === undefined ? undefined : desc.get.call(obj);
          } catch {
            continue;
          }
          // A non-configurable one stays, but what it answers is frozen, so a setter that
          // writes into that object throws (util.inspect.defaultOptions).
          if (desc.configurable) {
            defineProperty(obj, key, { value, writable: false, enumerable: desc.enumerable });
          }
          reach(value, false);
        }
      }
    }
  }
  const plainSet = new SetCtor(plain);
  let failures = 0;
  for (const obj of order) {
    if (isNamespace(obj) || Object.isFrozen(obj)) continue;
    let writable: Set<PropertyKey> | undefined;
    // The default prototype of a plain function (`constructor` alone) is one nobody inherits from:
    // left as it is, it saves a thousand accessors.
    const keys = ownKeys(obj);
    const inherited = keys.length !== 1 || keys[0] !== "constructor";
    if (inherited && asPrototype.has(obj) && !plainSet.has(obj)) {
      for (const key of keys) {
        // An own key has a descriptor (a Proxy that says otherwise fails here, as it should).
        const desc = getOwnPropertyDescriptor(obj, key) as PropertyDescriptor;
        if (!("value" in desc)) continue;
        if (desc.configurable) {
          for (const accessor of enableOverride(obj, key, desc)) freezeOne(accessor);
        } else if (desc.writable) {
          writable ??= new SetCtor();
          writable.add(key);
        }
      }
    }
    if (writable !== undefined) lockExcept(obj, writable);
    else if (!freezeOne(obj)) failures++;
  }
  return failures;
}

/**
 * Freezes a prototype except its writable properties that cannot be made overridable (they are
 * not configurable, as `EventEmitter.prototype[kCapture]`): freezing those would break every
 * instance that assigns its own, so they stay writable on the prototype (docs/isolates.md).
 */
function lockExcept(obj: object, writable: Set<PropertyKey>): void {
  preventExtensions(obj);
  for (const key of ownKeys(obj)) {
    if (writable.has(key)) continue;
    const desc = getOwnPropertyDescriptor(obj, key) as PropertyDescriptor;
    defineProperty(
      obj,
      key,
      "value" in desc ? { configurable: false, writable: false } : { configurable: false },
    );
  }
}
