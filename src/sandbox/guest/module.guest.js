// What guest code gets for `node:module`: the runtime's module, except that `createRequire`
// (also `Module.createRequire`) makes a `require` that resolves as a dynamic import does
// (modules.guest.js), so it reaches the same modules and nothing else of the isolate.
import RuntimeModule from "node:module";
import { provideModuleStandIn, requireModule } from "modules.js";
import * as self from "node-module.js";

export * from "node:module";

const { create, defineProperty, getOwnPropertyDescriptor, getPrototypeOf } = Object;
const { construct, ownKeys } = Reflect;

/** A `require` for guest code; the path it is made for does not matter, nothing is relative. */
export function createRequire(_path) {
  return function require(id) {
    return requireModule(id);
  };
}

/** The runtime's `Module`, which is also the module's default export, with our createRequire. */
export function Module(...args) {
  return construct(RuntimeModule, args, new.target ?? Module);
}
Module.prototype = create(getPrototypeOf(RuntimeModule.prototype));
for (const key of ownKeys(RuntimeModule.prototype)) {
  if (key !== "constructor") {
    defineProperty(Module.prototype, key, getOwnPropertyDescriptor(RuntimeModule.prototype, key));
  }
}
defineProperty(Module.prototype, "constructor", {
  value: Module,
  writable: true,
  configurable: true,
});
const OWN = ["length", "name", "prototype", "createRequire", "Module"];
for (const key of ownKeys(RuntimeModule)) {
  if (!OWN.includes(key)) {
    defineProperty(Module, key, getOwnPropertyDescriptor(RuntimeModule, key));
  }
}
for (const [key, value] of [
  ["createRequire", createRequire],
  ["Module", Module],
]) {
  defineProperty(Module, key, { value, writable: true, enumerable: true, configurable: true });
}

export default Module;

provideModuleStandIn(self);
