// Freezing built-ins before any user code runs, shared by both ways an isolate is sealed
// (seal-oneshot.guest.js, seal-warm.guest.js). A frozen object makes a write throw a TypeError
// instead of leaving something behind; the override accessors below keep the ordinary writes
// (`err.name = …`, `obj.toString = …` on an object of one's own) working.
const { defineProperty, freeze, getOwnPropertyDescriptor, getPrototypeOf, isExtensible } = Object;
const { ownKeys, preventExtensions } = Reflect;
const hasOwn = Object.hasOwn;
const isView = ArrayBuffer.isView;
const TypeErrorCtor = TypeError;
const StringCtor = String;
const SetCtor = Set;
const toStringTag = Symbol.toStringTag;
const isIndex = (key) => typeof key === "string" && `${+key >>> 0}` === key;

/**
 * Turns a data property of a prototype that is about to be frozen into an accessor, so objects
 * that inherit it can still assign their own (ses calls this enabling property overrides; without
 * it JavaScript refuses the assignment, the "override mistake"). The getter keeps the original
 * value as `originalValue`, as ses does, so a walk over the getter still reaches it.
 */
export function enableOverride(obj, key) {
  const desc = getOwnPropertyDescriptor(obj, key);
  if (desc === undefined || !("value" in desc) || !desc.configurable) return;
  const value = desc.value;
  const { get, set } = getOwnPropertyDescriptor(
    {
      get [key]() {
        return value;
      },
      set [key](next) {
        if (this === obj) {
          throw new TypeErrorCtor(
            `Cannot assign to read only property '${StringCtor(key)}' of a frozen built-in`,
          );
        }
        if (hasOwn(this, key)) this[key] = next;
        else
          defineProperty(this, key, {
            value: next,
            writable: true,
            enumerable: true,
            configurable: true,
          });
      },
    },
    key,
  );
  defineProperty(get, "originalValue", { value });
  defineProperty(obj, key, { get, set, enumerable: desc.enumerable, configurable: true });
}

/** An ES module namespace object: it cannot be frozen, and only its module can change it. */
function isNamespace(obj) {
  return (
    getPrototypeOf(obj) === null && getOwnPropertyDescriptor(obj, toStringTag)?.value === "Module"
  );
}

/** Freezes one object; a typed array keeps its elements writable, as ses's harden does. */
function freezeOne(obj) {
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
export function freezeAll(roots, plain) {
  const seen = new SetCtor();
  const asPrototype = new SetCtor();
  const order = [];
  const stack = [];
  const reach = (value, prototype) => {
    if (value === null || (typeof value !== "object" && typeof value !== "function")) return;
    if (prototype) asPrototype.add(value);
    if (seen.has(value)) return;
    seen.add(value);
    stack.push(value);
  };
  for (const root of roots) reach(root, false);
  for (const obj of plain) reach(obj, false);
  while (stack.length > 0) {
    const obj = stack.pop();
    order.push(obj);
    // A function's own prototype is the class it extends: its properties are static members,
    // which nobody overrides by assignment, and V8 reads some of them as data (the original
    // Error's stackTraceLimit, reached from node:assert's AssertionError).
    reach(getPrototypeOf(obj), typeof obj !== "function" && !isNamespace(obj));
    for (const key of ownKeys(obj)) {
      let desc;
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
          let value;
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
    let writable;
    if (asPrototype.has(obj) && !plainSet.has(obj)) {
      for (const key of ownKeys(obj)) {
        enableOverride(obj, key);
        const desc = getOwnPropertyDescriptor(obj, key);
        if (desc?.get !== undefined && hasOwn(desc.get, "originalValue")) {
          freezeOne(desc.get);
          freezeOne(desc.set);
        } else if (desc?.writable === true && !desc.configurable) {
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
function lockExcept(obj, writable) {
  preventExtensions(obj);
  for (const key of ownKeys(obj)) {
    if (writable.has(key)) continue;
    const desc = getOwnPropertyDescriptor(obj, key);
    defineProperty(
      obj,
      key,
      "value" in desc ? { configurable: false, writable: false } : { configurable: false },
    );
  }
}
