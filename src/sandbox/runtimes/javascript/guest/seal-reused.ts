// Seals a reused guest isolate before any of its executions runs, so none of them can leave
// anything for a later one: Hardened JavaScript (`ses`) has repaired the intrinsics first (the
// isolate's repair module, repair.ts, evaluated before any other); `seal` then freezes the
// intrinsics, and everything reachable from the global object, the built-in modules the code
// imports and the guest's own modules (freezeAll); other built-in modules are frozen as guest
// code reaches them. Costs and what it leaves open: docs/isolates.md.
import { freezeAll } from "./freeze";
import type { Seal } from "./harness";
import { guardLeftovers } from "./leftovers";
import { sealModulesWith } from "./modules";
import { hardenIntrinsics, RuntimeError } from "./repair";

const { getPrototypeOf } = Object;

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
