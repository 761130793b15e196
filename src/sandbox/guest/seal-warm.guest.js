// Seals a reused (warm) guest isolate before any of its executions runs, so none of them can
// leave anything for a later one: Hardened JavaScript (`ses`) repairs the intrinsics first
// (repair.guest.js); `seal` then freezes the intrinsics, and everything reachable from the global
// object, the built-in modules the code imports and the guest's own modules (freezeAll); other
// built-in modules are frozen as guest code reaches them. Costs and what it leaves open:
// docs/isolates.md.
import "repair.js";
import { freezeAll } from "freeze.js";
import { guardLeftovers } from "leftovers.js";
import { sealModulesWith } from "modules.js";
import { hardenIntrinsics, RuntimeError } from "repair.js";
// The node:module stand-in loads node:module, milliseconds a one-shot isolate only spends when
// its code asks for it; a reused isolate has it from the start (process.getBuiltinModule).
import "node-module.js";

/** This isolate serves every later execution of the same code by the same tenant. */
export const REUSED = true;

const { getPrototypeOf } = Object;

/**
 * Freezes the isolate: `load` is the runtime's `process.getBuiltinModule`, `roots` what the harness
 * made that guest code can reach, `imported` the built-in modules the code imports. Every other
 * built-in module is frozen when guest code first reaches it (modules.guest.js): loading them all
 * here would cost every reused isolate milliseconds and megabytes (docs/isolates.md). Answers how
 * many objects could not be frozen.
 */
export function seal({ load, roots, imported }) {
  guardLeftovers();
  const modules = [];
  for (const name of imported) {
    try {
      modules.push(load(name));
    } catch {
      // Not a module this runtime has: the import failed before any run.
    }
  }
  hardenIntrinsics();
  const plain = [];
  for (let obj = globalThis; obj !== null; obj = getPrototypeOf(obj)) plain.push(obj);
  const sealed = new WeakSet(modules);
  sealModulesWith((module) => {
    if (sealed.has(module)) return;
    sealed.add(module);
    freezeAll([module], []);
  });
  return freezeAll([...roots, ...modules, RuntimeError], plain);
}
