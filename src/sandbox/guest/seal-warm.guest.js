// Seals a reused (warm) guest isolate before any of its executions runs, so none of them can
// leave anything for a later one: Hardened JavaScript (`ses`) repairs the intrinsics when this
// module is evaluated (the harness imports it first, so before anything else is loaded); `seal`
// then loads every Node.js built-in module, freezes the intrinsics (ses), and freezes everything
// reachable from the global object, those modules and the guest's own modules (freezeAll).
// Costs and what it leaves open: docs/isolates.md.
import { freezeAll } from "freeze.js";
import { repairIntrinsics } from "ses.js";

/** This isolate serves every later execution of the same code by the same tenant. */
export const REUSED = true;

const { defineProperty, getOwnPropertyDescriptor, getPrototypeOf } = Object;
const { deleteProperty, ownKeys } = Reflect;
const iteratorPrototype = getPrototypeOf(getPrototypeOf([][Symbol.iterator]()));
// Built-ins of this runtime that ses 2.3.0 does not know and would drop: put back after its
// repairs, so a reused isolate offers what a one-shot isolate does.
const EXTRAS = [
  [() => Error, "isError"],
  [() => RegExp, "escape"],
  [() => iteratorPrototype, "join"],
  [() => iteratorPrototype, "includes"],
  [() => iteratorPrototype, Symbol.dispose],
];
const extras = EXTRAS.map(([of, key]) => getOwnPropertyDescriptor(of(), key));
// The runtime's own Error: ses replaces the global and formats stacks through this one's
// prepareStackTrace; V8's own formatting is put back below, so `err.stack` reads as it does in a
// one-shot isolate.
const RuntimeError = Error;
const globalsBefore = new Set(ownKeys(globalThis));

const hardenIntrinsics = repairIntrinsics({
  // `err.name = …`, `obj.toString = …`, `x.constructor = …` keep working on the code's objects.
  overrideTaming: "severe",
  // Stacks stay as V8 writes them: the harness reads the code's line and column from them.
  errorTaming: "unsafe",
  stackFiltering: "verbose",
  // console is the harness's own; toLocaleString and friends keep their locale.
  consoleTaming: "unsafe",
  localeTaming: "unsafe",
  // Nothing to report to; the harness handles errors and rejections.
  reporting: "none",
  errorTrapping: "none",
  unhandledRejectionTrapping: "none",
});
for (let i = 0; i < EXTRAS.length; i++) {
  const [of, key] = EXTRAS[i];
  const target = of();
  if (extras[i] !== undefined && getOwnPropertyDescriptor(target, key) === undefined) {
    defineProperty(target, key, extras[i]);
  }
}
deleteProperty(RuntimeError, "prepareStackTrace");
// ses adds globals of its own (Compartment); guest code gets the runtime's set.
for (const key of ownKeys(globalThis)) if (!globalsBefore.has(key)) deleteProperty(globalThis, key);

/**
 * Freezes the isolate: `load` is the runtime's `process.getBuiltinModule`, `roots` what the harness
 * made that guest code can reach. Answers how many objects could not be frozen.
 */
export function seal({ load, roots }) {
  // Loaded before the intrinsics are frozen, as they would be in a one-shot isolate.
  const modules = [];
  const names = load("node:module").builtinModules;
  for (let i = 0; i < names.length; i++) {
    try {
      modules.push(load(`node:${names[i]}`));
    } catch {
      // Not available in this runtime; guest code gets the same error when it asks.
    }
  }
  hardenIntrinsics();
  const plain = [];
  for (let obj = globalThis; obj !== null; obj = getPrototypeOf(obj)) plain.push(obj);
  return freezeAll([...roots, ...modules, RuntimeError], plain);
}
