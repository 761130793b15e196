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
