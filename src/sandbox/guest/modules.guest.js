// How guest code reaches a module while it runs: a dynamic `import()` (the compiler passes its
// specifier through `moduleSpecifier`), the `require` of `createRequire` (module.guest.js) and, in
// a reused isolate, `process.getBuiltinModule`. Each resolves as a static import does (compile.ts): a
// Node.js built-in, or the guest's stand-ins for cloudflare:workers, cloudflare:sockets and
// node:module; never one of the isolate's own modules (the harness, the compiled code).
import * as sockets from "cloudflare:sockets";
import { builtinModule, ErrorCtor, StringCtor, uncurry } from "builtins.js";
import * as workers from "cloudflare-workers.js";

/** What an import may name: node:*, or a bare Node.js name such as `fs` or `fs/promises`. */
const BUILT_IN = /^node:|^[a-z_]+(\/[a-z_]+)?$/;
const regexpTest = uncurry(RegExp.prototype.test);
/** The stand-ins' names in the module map (src/sandbox/shims.ts gives static imports the same). */
const STAND_IN_NAMES = {
  __proto__: null,
  "cloudflare:workers": "cloudflare-workers.js",
  "cloudflare:sockets": "cloudflare:sockets",
  "node:module": "node-module.js",
  module: "node-module.js",
};

/**
 * The stand-ins' namespaces by the specifier they stand in for. The node:module one registers
 * itself when it is loaded (module.guest.js): in a one-shot isolate only once the code imports it,
 * and only it can make a `require`.
 */
const standIns = {
  __proto__: null,
  "cloudflare:workers": workers,
  "cloudflare:sockets": sockets,
};

let sealModule;
/**
 * In a reused isolate, seal-warm.guest.js freezes each built-in module before guest code first
 * gets it through `require`, `process.getBuiltinModule` or a dynamic import.
 */
export function sealModulesWith(seal) {
  sealModule = seal;
}

/** A built-in module, sealed first in a reused isolate. */
function builtin(name) {
  const module = builtinModule(name);
  sealModule?.(module);
  return module;
}

/** Called by the node:module stand-in with its own namespace. */
export function provideModuleStandIn(namespace) {
  standIns["node:module"] = namespace;
  standIns.module = namespace;
}

/** The stand-ins' namespaces loaded so far, for sealing a reused isolate. */
export function standInNamespaces() {
  return [workers, sockets, standIns["node:module"]];
}

function standIn(name) {
  return standIns[name];
}

function refused(name) {
  const err = new ErrorCtor(
    `Cannot import "${name}": only runtime built-ins (node:*, cloudflare:sockets, cloudflare:workers) can be imported`,
  );
  err.name = "ImportError";
  return err;
}

/**
 * The specifier a dynamic `import()` of guest code goes to: a stand-in's module name, a built-in's
 * own name, or, for anything else, a value whose conversion to a string throws the ImportError,
 * so the import rejects with it as the runtime rejects a module it does not know.
 */
export function moduleSpecifier(specifier) {
  let name;
  try {
    name = StringCtor(specifier);
  } catch (err) {
    return {
      __proto__: null,
      toString: () => {
        throw err;
      },
    };
  }
  const standInName = STAND_IN_NAMES[name];
  if (standInName !== undefined) return standInName;
  if (regexpTest(BUILT_IN, name)) {
    // The import loads the same module object: sealed here, it is sealed when the import
    // resolves. A name the runtime does not know makes the import reject as it would anyway.
    if (sealModule !== undefined) {
      try {
        builtin(name);
      } catch {}
    }
    return name;
  }
  const err = refused(name);
  return {
    __proto__: null,
    toString: () => {
      throw err;
    },
  };
}

/** `require(specifier)` for guest code: what `process.getBuiltinModule` answers for a built-in. */
export function requireModule(specifier) {
  const name = StringCtor(specifier);
  const found = standIn(name);
  if (found !== undefined) return found.default ?? found;
  if (!regexpTest(BUILT_IN, name)) throw refused(name);
  return builtin(name);
}

/**
 * Puts `requireModule` behind `process.getBuiltinModule` (which answers undefined where that
 * throws, as the runtime's does for a name it does not know). Only reused isolates: reaching
 * `process` costs a one-shot isolate milliseconds, and a one-shot isolate ends with its execution,
 * so the runtime's modules it can reach this way cannot keep anything of it running.
 */
export function guardProcess() {
  // builtinModule keeps the runtime's loader from its first call: make that call now.
  builtinModule("node:module");
  const guarded = function getBuiltinModule(id) {
    const name = StringCtor(id);
    return standIn(name) !== undefined || regexpTest(BUILT_IN, name)
      ? requireModule(name)
      : undefined;
  };
  globalThis.process.getBuiltinModule = guarded;
}
