// What package code reaches at run time (src/packages/build.ts rewrites it to come here): the
// `require` of each CommonJS module, and a dynamic `import()` whose specifier is computed. Both
// reach the package modules the build resolved for that module and, like the code's own imports,
// runtime built-ins (the harness's modules.ts); never another module of the isolate.
import { ErrorCtor, MapCtor, mapGet, moduleSpecifier, requireModule, StringCtor } from "cordon.js";

const { freeze } = Object;
const { apply } = Reflect;

function notFound(name) {
  const err = new ErrorCtor(`Cannot find module '${name}'`);
  err.code = "MODULE_NOT_FOUND";
  return err;
}

/**
 * The `require` of one CommonJS module: `table` holds the specifiers its source names literally,
 * each to its module's name (null for one the build could not resolve); anything else is a
 * built-in or nothing.
 */
function requireFor(nativeRequire, table) {
  const targets = new MapCtor(table);
  return function require(specifier) {
    const name = StringCtor(specifier);
    const target = mapGet(targets, name);
    if (target === null) throw notFound(name);
    if (target !== undefined) return apply(nativeRequire, undefined, [target]);
    let builtin;
    try {
      builtin = requireModule(name);
    } catch {
      throw notFound(name);
    }
    if (builtin === undefined) throw notFound(name);
    return builtin;
  };
}

/** The specifier a computed `import()` in package code may load: a built-in's, or one that rejects. */
function importSpecifier(specifier) {
  return moduleSpecifier(specifier);
}

export default freeze({ requireFor, importSpecifier });
