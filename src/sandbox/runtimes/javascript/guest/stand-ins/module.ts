// What guest code gets for `node:module`: the runtime's module, except that `createRequire`
// (also `Module.createRequire`) makes a `require` that resolves as a dynamic import does
// (../modules.ts), so it reaches the same modules and nothing else of the isolate. Only it makes a
// `require`, so it brings the other stand-ins, which a `require` may name.
import RuntimeModule from "node:module";
import { provideStandIn, requireModule } from "../core";
import * as self from "./module";
import "./sockets";
import "./workers";

// @ts-expect-error: typed as `export =`, node:module is an ES module whose names this re-exports.
export * from "node:module";

const { create, defineProperty, getOwnPropertyDescriptor, getPrototypeOf } = Object;
/** An own property's descriptor, of a key the object was just asked for. */
const own = (obj: object, key: PropertyKey) =>
  getOwnPropertyDescriptor(obj, key) as PropertyDescriptor;
const { construct, ownKeys } = Reflect;

/** A `require` for guest code; the path it is made for does not matter, nothing is relative. */
export function createRequire(_path?: unknown) {
  const require = (id: unknown) => requireModule(id);
  // Named here: a bundler renames a binding called `require`.
  return defineProperty(require, "name", { value: "require", configurable: true });
}

/** The runtime's `Module`, which is also the module's default export, with our createRequire. */
export function Module(...args: unknown[]): object {
  return construct(RuntimeModule, args, new.target ?? Module);
}
Module.prototype = create(getPrototypeOf(RuntimeModule.prototype));
for (const key of ownKeys(RuntimeModule.prototype)) {
  if (key !== "constructor") {
    defineProperty(Module.prototype, key, own(RuntimeModule.prototype, key));
  }
}
defineProperty(Module.prototype, "constructor", {
  value: Module,
  writable: true,
  configurable: true,
});
const OWN: PropertyKey[] = ["length", "name", "prototype", "createRequire", "Module"];
for (const key of ownKeys(RuntimeModule)) {
  if (!OWN.includes(key)) {
    defineProperty(Module, key, own(RuntimeModule, key));
  }
}
for (const [key, value] of [
  ["createRequire", createRequire],
  ["Module", Module],
] as const) {
  defineProperty(Module, key, { value, writable: true, enumerable: true, configurable: true });
}

export default Module;

provideStandIn(["node:module", "module"], self);
