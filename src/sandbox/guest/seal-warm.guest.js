// Seals a reused (warm) guest isolate before any of its executions runs, so none of them can
// leave anything for a later one: Hardened JavaScript (`ses`) repairs the intrinsics first
// (repair.guest.js); `seal` then loads every Node.js built-in module, freezes the intrinsics, and
// freezes everything reachable from the global object, those modules and the guest's own modules
// (freezeAll). Costs and what it leaves open: docs/isolates.md.
import "repair.js";
import { freezeAll } from "freeze.js";
import { hardenIntrinsics, RuntimeError } from "repair.js";
// The node:module stand-in loads node:module, milliseconds a one-shot isolate only spends when
// its code asks for it; a reused isolate has it from the start (process.getBuiltinModule).
import "node-module.js";

/** This isolate serves every later execution of the same code by the same tenant. */
export const REUSED = true;

const { getPrototypeOf } = Object;

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
