// Links a compiled module to the npm packages resolved for it (src/packages): the import
// declarations of its prelude are pointed at the package modules, and the isolate gets those
// modules, the table of the code's packages (`npm-entries.js`) and the package runtime.
import { type PackageBuild, type PackageModule, RUNTIME_MODULE } from "../../../packages/build";
import { ENTRIES_MODULE, entriesModule } from "../../../packages/entries";
import runtimeSource from "../../../packages/runtime.guest.js";
import { PRELUDE_END } from "./compile";
import { applyEdits, type Edit } from "./instrument";
import { parseModule } from "./parse";

/** A compiled module linked to its packages. */
export interface Linked {
  source: string;
  /** What the isolate's module map gets besides the guest's own modules and the code's. */
  modules: Record<string, PackageModule>;
}

/**
 * Points each bare specifier of the prelude's import declarations (the code's and its session's)
 * at the module the build resolved it to, and makes `npm-entries.js` the module's first import.
 * Every change stays on the prelude's lines, which stand for nothing in the code as sent, so the
 * positions the compiler maps back to the code are unchanged.
 */
export function linkPackages(source: string, build: PackageBuild): Linked {
  const end = source.indexOf(PRELUDE_END);
  const head = source.slice(0, end);
  const edits: Edit[] = [];
  for (const node of parseModule(head).body) {
    if (node.type !== "ImportDeclaration") continue;
    const specifier = node.source.value;
    const target = typeof specifier === "string" ? build.imports[specifier] : undefined;
    if (target === undefined) continue;
    edits.push({ start: node.source.start, end: node.source.end, text: JSON.stringify(target) });
  }
  return {
    source: `import ${JSON.stringify(`/${ENTRIES_MODULE}`)}; ${applyEdits(head, edits)}${source.slice(end)}`,
    modules: {
      ...build.modules,
      [ENTRIES_MODULE]: { js: entriesModule(build) },
      [RUNTIME_MODULE]: { js: runtimeSource },
    },
  };
}
