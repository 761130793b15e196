// Hardened JavaScript (`ses`) repairs the intrinsics of a reused guest isolate when this module is
// evaluated: it is a module of its own (ses bundled in, by host/guest.mjs), the first the main
// module imports, so this runs before any other module of the isolate is evaluated. The
// intrinsics are frozen later, by seal-reused.ts, once the harness has set up what guest code
// reaches.
import { repairIntrinsics } from "ses-lockdown";

const { defineProperty, getOwnPropertyDescriptor, getPrototypeOf } = Object;
const { deleteProperty, ownKeys } = Reflect;
const iteratorPrototype = getPrototypeOf(getPrototypeOf([][Symbol.iterator]()));
// Built-ins of this runtime that ses 2.3.0 does not know and would drop: put back after its
// repairs, so a reused isolate offers what a one-shot isolate does.
const EXTRAS: [() => object, PropertyKey][] = [
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
export const RuntimeError = Error;
const globalsBefore = new Set(ownKeys(globalThis));

/** Freezes the intrinsics (ses). */
export const hardenIntrinsics = repairIntrinsics({
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
  const [of, key] = EXTRAS[i] as (typeof EXTRAS)[number];
  const target = of();
  const extra = extras[i];
  if (extra !== undefined && getOwnPropertyDescriptor(target, key) === undefined) {
    defineProperty(target, key, extra);
  }
}
deleteProperty(RuntimeError, "prepareStackTrace");
// ses adds globals of its own (Compartment); guest code gets the runtime's set.
for (const key of ownKeys(globalThis)) if (!globalsBefore.has(key)) deleteProperty(globalThis, key);
