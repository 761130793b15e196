import { type Program, parse } from "acorn";
import type { ImportKind, PackageBuild, PackageEntry } from "./build";
import { parseBare } from "./specifier";
import { literalString, specifierNodes } from "./syntax";

/**
 * The bare package specifiers the code names literally: import declarations and re-exports and
 * dynamic imports (`import`), and `require("…")` calls (`require`, the code's own `require` made
 * with `createRequire`). Built-ins, relative paths and anything that names no package are left
 * out; the compiler refuses those as it always did.
 */
export function packageEntries(program: Program): PackageEntry[] {
  const seen = new Set<string>();
  const entries: PackageEntry[] = [];
  for (const node of specifierNodes(program, { esm: true, cjs: true })) {
    const source = node.type === "CallExpression" ? node.arguments[0] : node.source;
    const specifier = source?.type === "SpreadElement" ? undefined : literalString(source);
    if (specifier === undefined || parseBare(specifier) === undefined) continue;
    const kind: ImportKind = node.type === "CallExpression" ? "require" : "import";
    if (seen.has(`${kind} ${specifier}`)) continue;
    seen.add(`${kind} ${specifier}`);
    entries.push({ specifier, kind });
  }
  return entries;
}

/**
 * One import declaration of the code with its bare package specifier replaced by the module the
 * build resolved it to; a declaration of anything else comes back as it was.
 */
export function rewriteDeclaration(declaration: string, build: PackageBuild): string {
  const node = parse(declaration, { ecmaVersion: "latest", sourceType: "module" }).body[0];
  if (
    !node ||
    (node.type !== "ImportDeclaration" &&
      node.type !== "ExportAllDeclaration" &&
      node.type !== "ExportNamedDeclaration") ||
    !node.source
  ) {
    return declaration;
  }
  const source = node.source;
  const specifier = literalString(source);
  const target = specifier === undefined ? undefined : build.imports[specifier];
  if (target === undefined) return declaration;
  return `${declaration.slice(0, source.start)}${JSON.stringify(target)}${declaration.slice(source.end)}`;
}

/** The module that tells the harness which packages the code names (its first import). */
export const ENTRIES_MODULE = "npm-entries.js";

/**
 * The source of `npm-entries.js`: it hands the harness (through `cordon.js`) the module each of
 * the code's imported specifiers resolved to, for its dynamic `import()`, and what each specifier
 * it requires is, for its `require` (CommonJS: `module.exports`; ESM: the namespace).
 */
export function entriesModule(build: PackageBuild): string {
  const required = Object.entries(build.requires);
  const lines = ['import { providePackages } from "cordon.js";'];
  required.forEach(([, target], i) => {
    lines.push(`import r${i} from ${JSON.stringify(target)};`);
  });
  const imports = Object.entries(build.imports)
    .map(([specifier, target]) => `${JSON.stringify(specifier)}: ${JSON.stringify(target)}`)
    .join(", ");
  const requires = required
    .map(([specifier], i) => `${JSON.stringify(specifier)}: r${i}`)
    .join(", ");
  lines.push(`providePackages({ __proto__: null, ${imports} }, { __proto__: null, ${requires} });`);
  return `${lines.join("\n")}\n`;
}
