// Nothing of an execution may run after it has answered. The runtime ends an execution's timers,
// I/O and waitUntil work with its request; two things it keeps for the isolate's life instead,
// and which would run inside a later execution of a reused isolate, are guarded here before any
// user code runs. A one-shot isolate is freed with its execution and goes without.
import { apply, TypeErrorCtor } from "./builtins";
import { currentRun, runInContext } from "./context";

const { defineProperty, getPrototypeOf, hasOwn } = Object;
const { construct } = Reflect;

/**
 * Listeners on the global object (`addEventListener("unhandledrejection", …)`) stay registered
 * after their execution: refused with a TypeError. Other event targets are unaffected.
 */
function guardGlobalListeners(): void {
  const global = globalThis;
  // The global object's chain has an EventTarget prototype of its own besides EventTarget's.
  let own: EventTarget | null = getPrototypeOf(global);
  while (own !== null && !hasOwn(own, "addEventListener")) own = getPrototypeOf(own);
  for (const proto of new Set([own, EventTarget.prototype])) {
    if (proto === null) continue;
    const add = proto.addEventListener;
    proto.addEventListener = function addEventListener(
      this: unknown,
      type: unknown,
      listener: unknown,
      options: unknown,
    ) {
      // A bare `addEventListener(…)` call reaches the runtime with `this` undefined: the global.
      if (this === undefined || this === null || this === global) {
        throw new TypeErrorCtor(
          "addEventListener() on the global object is not available: its listener would outlive the execution",
        );
      }
      return apply(add, this, [type, listener, options]);
    };
  }
}

/**
 * A FinalizationRegistry's callbacks run only while the execution that made it is running, in its
 * context; the runtime would call them in whichever later execution collects the garbage.
 */
function guardFinalizers(): void {
  const Registry = globalThis.FinalizationRegistry;
  function GuardedRegistry(cleanup: unknown): object {
    if (new.target === undefined) {
      throw new TypeErrorCtor("Constructor FinalizationRegistry requires 'new'");
    }
    const run = currentRun();
    const guarded =
      typeof cleanup === "function"
        ? (held: unknown) => {
            if (run !== undefined && !run.done) {
              runInContext(run, () => apply(cleanup, undefined, [held]));
            }
          }
        : cleanup;
    return construct(Registry, [guarded], new.target);
  }
  defineProperty(GuardedRegistry, "name", { value: "FinalizationRegistry" });
  defineProperty(GuardedRegistry, "prototype", { value: Registry.prototype });
  defineProperty(Registry.prototype, "constructor", {
    value: GuardedRegistry,
    writable: true,
    configurable: true,
  });
  (globalThis as { FinalizationRegistry: unknown }).FinalizationRegistry = GuardedRegistry;
}

/** Installs both guards; seal-reused.ts calls it once, before it freezes the isolate. */
export function guardLeftovers(): void {
  guardGlobalListeners();
  guardFinalizers();
}
