// How guest code reaches a module while it runs: a dynamic `import()` (the compiler passes its
// specifier through `moduleSpecifier`), the `require` of `createRequire` (stand-ins/module.ts)
// and, in a reused isolate, `process.getBuiltinModule`. Each resolves as a static import does
// (compile.ts): a Node.js built-in, or the guest's stand-ins for cloudflare:workers,
// cloudflare:sockets and node:module; never one of the isolate's own modules (the harness, the
// compiled code).
import {
  type BuiltinModule,
  builtinModule,
  ErrorCtor,
  processObject,
  StringCtor,
  uncurry,
} from "./builtins";

/** What an import may name: node:*, or a bare Node.js name such as `fs` or `fs/promises`. */
const BUILT_IN = /^node:|^[a-z_]+(\/[a-z_]+)?$/;
const regexpTest = uncurry(RegExp.prototype.test);
/** The stand-ins' names in the module map (../shims.ts gives static imports the same). */
const STAND_IN_NAMES: { __proto__?: null; [specifier: string]: string | null | undefined } = {
  __proto__: null,
  "cloudflare:workers": "cloudflare-workers.js",
  "cloudflare:sockets": "cloudflare:sockets",
  "node:module": "node-module.js",
  module: "node-module.js",
};

/** A stand-in's module namespace. */
type Namespace = object;

/**
 * The stand-ins' namespaces by the specifier they stand in for. Each registers itself when it is
 * evaluated (stand-ins/*.ts): a reused isolate evaluates all three before any code runs; a
 * one-shot isolate only those its code imports, node:module's bringing the other two (only it can
 * make a `require`).
 */
const standIns: { __proto__?: null; [specifier: string]: Namespace | null | undefined } = {
  __proto__: null,
};

let sealModule: ((module: BuiltinModule) => void) | undefined;
/**
 * In a reused isolate, seal-reused.ts freezes each built-in module before guest code first gets
 * it through `require`, `process.getBuiltinModule` or a dynamic import.
 */
export function sealModulesWith(seal: (module: BuiltinModule) => void): void {
  sealModule = seal;
}

/** A built-in module, sealed first in a reused isolate. */
function builtin(name: string): BuiltinModule {
  const module = builtinModule(name);
  sealModule?.(module);
  return module;
}

/** Called by a stand-in with its own namespace, once it is evaluated. */
export function provideStandIn(specifiers: string[], namespace: Namespace): void {
  for (let i = 0; i < specifiers.length; i++) standIns[specifiers[i] as string] = namespace;
}

/** The stand-ins' namespaces loaded so far, for sealing a reused isolate. */
export function standInNamespaces(): unknown[] {
  return [standIns["cloudflare:workers"], standIns["cloudflare:sockets"], standIns["node:module"]];
}

function standIn(name: string): Namespace | null | undefined {
  return standIns[name];
}

function refused(name: string): Error {
  const err = new ErrorCtor(
    `Cannot import "${name}": only runtime built-ins (node:*, cloudflare:sockets, cloudflare:workers) can be imported`,
  );
  err.name = "ImportError";
  return err;
}

/** A specifier whose conversion to a string throws `err`: the import rejects with it. */
function throwing(err: unknown): { __proto__?: null; toString(): never } {
  return {
    __proto__: null,
    toString: () => {
      throw err;
    },
  };
}

/**
 * The specifier a dynamic `import()` of guest code goes to: a stand-in's module name, a built-in's
 * own name, or, for anything else, a value whose conversion to a string throws the ImportError,
 * so the import rejects with it as the runtime rejects a module it does not know.
 */
export function moduleSpecifier(specifier: unknown): string | { toString(): never } {
  let name: string;
  try {
    name = StringCtor(specifier);
  } catch (err) {
    return throwing(err);
  }
  const standInName = STAND_IN_NAMES[name];
  if (standInName != null) return standInName;
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
  return throwing(refused(name));
}

/** `require(specifier)` for guest code: what `process.getBuiltinModule` answers for a built-in. */
export function requireModule(specifier: unknown): unknown {
  const name = StringCtor(specifier);
  const found = standIn(name);
  if (found != null) return (found as { default?: unknown }).default ?? found;
  if (!regexpTest(BUILT_IN, name)) throw refused(name);
  return builtin(name);
}

/**
 * Puts `requireModule` behind `process.getBuiltinModule` (which answers undefined where that
 * throws, as the runtime's does for a name it does not know). Only reused isolates: reaching
 * `process` costs a one-shot isolate milliseconds, and a one-shot isolate ends with its execution,
 * so the runtime's modules it can reach this way cannot keep anything of it running.
 */
export function guardProcess(): void {
  // builtinModule keeps the runtime's loader from its first call: make that call now.
  builtinModule("node:module");
  const guarded = function getBuiltinModule(id: unknown) {
    const name = StringCtor(id);
    return standIn(name) != null || regexpTest(BUILT_IN, name) ? requireModule(name) : undefined;
  };
  processObject().getBuiltinModule = guarded;
}
