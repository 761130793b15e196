// Seals a reused guest isolate before any of its executions runs, so none of them can leave
// anything for a later one: Hardened JavaScript (`ses`) has repaired the intrinsics first (the
// isolate's repair module, repair.ts, evaluated before any other); `seal` then freezes the
// intrinsics, and everything reachable from the global object, the built-in modules the code
// imports and the guest's own modules (freezeAll); other built-in modules are frozen as guest
// code reaches them. Costs and what it leaves open: docs/isolates.md.
import { apply, TypeErrorCtor } from "./builtins";
import { currentRun } from "./context";
import { freezeAll } from "./freeze";
import type { Seal } from "./harness";
import { guardLeftovers } from "./leftovers";
import { sealModulesWith } from "./modules";
import { hardenIntrinsics, RuntimeError } from "./repair";

const { defineProperty, getOwnPropertyDescriptor, getPrototypeOf } = Object;

/**
 * `Error.stackTraceLimit` belongs to the execution that sets it: ses's accessor would write the
 * runtime's Error, which is frozen, so `Error.stackTraceLimit = 0` threw (and node:assert, which
 * does that around every AssertionError it makes, threw a TypeError instead). Shared, one
 * execution's limit would show in a later one's stacks. V8 keeps capturing as many frames as the
 * runtime's Error says (docs/isolates.md).
 */
function perRunStackTraceLimit(): void {
  const runtimeLimit = getOwnPropertyDescriptor(Error, "stackTraceLimit")?.get;
  defineProperty(Error, "stackTraceLimit", {
    get(this: unknown) {
      const limit = currentRun()?.stackTraceLimit;
      return limit ?? (runtimeLimit === undefined ? undefined : apply(runtimeLimit, this, []));
    },
    set(limit: unknown) {
      // As ses (and V8) do, anything but a number is ignored.
      if (typeof limit !== "number") return;
      const run = currentRun();
      if (run === undefined)
        throw new TypeErrorCtor("Error.stackTraceLimit is set by an execution");
      run.stackTraceLimit = limit;
    },
    enumerable: false,
    configurable: false,
  });
}

/**
 * Freezes the isolate: `load` is the runtime's `process.getBuiltinModule`, `roots` what the harness
 * made that guest code can reach, `imported` the built-in modules the code imports. Every other
 * built-in module is frozen when guest code first reaches it (modules.ts): loading them all here
 * would cost every reused isolate milliseconds and megabytes (docs/isolates.md). Answers how many
 * objects could not be frozen.
 */
export const seal: Seal = ({ load, roots, imported }) => {
  guardLeftovers();
  const modules: unknown[] = [];
  for (const name of imported) {
    try {
      modules.push(load(name));
    } catch {
      // Not a module this runtime has: the import failed before any run.
    }
  }
  perRunStackTraceLimit();
  hardenIntrinsics();
  const plain: object[] = [];
  for (let obj: object | null = globalThis; obj !== null; obj = getPrototypeOf(obj))
    plain.push(obj);
  const sealed = new WeakSet<object>(modules as object[]);
  sealModulesWith((module: object) => {
    if (sealed.has(module)) return;
    sealed.add(module);
    freezeAll([module], []);
  });
  return freezeAll([...roots, ...modules, RuntimeError], plain);
};
