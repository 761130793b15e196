import type {
  AnyNode,
  CallExpression,
  ExportAllDeclaration,
  ExportNamedDeclaration,
  ImportDeclaration,
  ImportExpression,
  Program,
} from "acorn";

export type SpecifierNode =
  | ImportExpression
  | ImportDeclaration
  | ExportAllDeclaration
  | ExportNamedDeclaration
  | CallExpression;

/** The string a literal or a template without substitutions holds; undefined for anything else. */
export function literalString(node: AnyNode | null | undefined): string | undefined {
  if (!node) return undefined;
  if (node.type === "Literal") return typeof node.value === "string" ? node.value : undefined;
  if (node.type === "TemplateLiteral" && node.expressions.length === 0) {
    return node.quasis[0]?.value.cooked ?? undefined;
  }
  return undefined;
}

function isNode(value: unknown): value is AnyNode {
  return (
    typeof value === "object" && value !== null && typeof Reflect.get(value, "type") === "string"
  );
}

/**
 * Import declarations and re-exports (`esm`), `require(…)` calls (`cjs`), and dynamic imports,
 * anywhere in the tree.
 */
export function specifierNodes(
  program: Program,
  kinds: { esm: boolean; cjs: boolean },
): SpecifierNode[] {
  const found: SpecifierNode[] = [];
  const stack: unknown[] = [program];
  while (stack.length > 0) {
    const value = stack.pop();
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push(value[i]);
      continue;
    }
    if (!isNode(value)) continue;
    switch (value.type) {
      case "ImportExpression":
        found.push(value);
        break;
      case "ImportDeclaration":
      case "ExportAllDeclaration":
      case "ExportNamedDeclaration":
        if (kinds.esm && value.source) found.push(value);
        break;
      case "CallExpression":
        if (kinds.cjs && value.callee.type === "Identifier" && value.callee.name === "require") {
          found.push(value);
        }
        break;
    }
    for (const [key, child] of Object.entries(value)) {
      if (key !== "loc" && typeof child === "object" && child !== null) stack.push(child);
    }
  }
  return found;
}
