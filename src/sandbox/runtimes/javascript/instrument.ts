import type { Node } from "acorn";

/** Prefix of the identifiers the compiler adds; user code may not use it. */
export const RESERVED_PREFIX = "__cordon$";
/** Counts work and checks the run's deadline every so often (loops, function entries). */
export const TICK = `${RESERVED_PREFIX}t`;
/** Checks the run's deadline at once (catch and finally blocks, so a timeout cannot be swallowed). */
export const CHECK = `${RESERVED_PREFIX}c`;
/**
 * Maps a dynamic import's specifier as a static import is checked (./guest/modules.ts): a method
 * of the per-run object compile.ts names `${RESERVED_PREFIX}`.
 */
export const MODULE_SPECIFIER = `${RESERVED_PREFIX}.m`;

/** A single text insertion or replacement over the parsed JavaScript. */
export interface Edit {
  start: number;
  end: number;
  text: string;
  /** Added text that stands for nothing in the code as sent. */
  opaque?: boolean;
  /**
   * How deep in the syntax tree the text is (the depth of the node it wraps, less a half), which
   * orders insertions at one offset: text that closes a wrapper (`close`) before text that opens
   * one, inner wrappers closed first and outer ones opened first.
   */
  depth?: number;
  close?: true;
}

/** Sorts edits for `applyEdits`: by offset, then as `Edit.depth` says; otherwise stable. */
export function byPosition(a: Edit, b: Edit): number {
  return a.start - b.start || rank(a) - rank(b);
}

function rank(edit: Edit): number {
  const depth = edit.depth ?? 0;
  return edit.close ? -1e9 - depth : depth;
}

type AnyNode = Node & Record<string, unknown>;

/**
 * Adds deadline checks to every loop body, function body, catch clause and finally block, so
 * code that never yields still stops at its deadline. The runtime forbids `eval` and
 * `new Function`, so no uninstrumented code can be made at run time. A dynamic import's
 * specifier goes through MODULE_SPECIFIER.
 * Returns the edits, or the start offset of a reserved identifier the code uses.
 */
export function instrument(program: Node): { edits: Edit[] } | { reservedAt: number } {
  const edits: Edit[] = [];
  let reservedAt: number | undefined;
  const atBlockStart = (block: AnyNode, call: string) =>
    edits.push({ start: block.start + 1, end: block.start + 1, text: `${call}();` });
  /** Wraps `node` (at `depth`) in `open` and `close`. */
  const wrap = (node: AnyNode, depth: number, open: string, close: string) => {
    edits.push({ start: node.start, end: node.start, text: open, depth: depth - 0.5 });
    edits.push({ start: node.end, end: node.end, text: close, depth: depth - 0.5, close: true });
  };
  const guard = (body: AnyNode, depth: number) => {
    if (body.type === "BlockStatement") atBlockStart(body, TICK);
    else wrap(body, depth, `{${TICK}();`, "}");
  };

  const visit = (node: AnyNode, depth: number) => {
    switch (node.type) {
      case "Identifier":
        if (String(node.name).startsWith(RESERVED_PREFIX)) reservedAt ??= node.start;
        break;
      case "WhileStatement":
      case "DoWhileStatement":
      case "ForStatement":
      case "ForInStatement":
      case "ForOfStatement":
        guard(node.body as AnyNode, depth + 1);
        break;
      case "FunctionDeclaration":
      case "FunctionExpression":
      case "ArrowFunctionExpression": {
        const body = node.body as AnyNode;
        if (body.type === "BlockStatement") atBlockStart(body, TICK);
        else wrap(body, depth + 1, `(${TICK}(), `, ")");
        break;
      }
      case "CatchClause":
        atBlockStart(node.body as AnyNode, CHECK);
        break;
      case "TryStatement":
        if (node.finalizer) atBlockStart(node.finalizer as AnyNode, CHECK);
        break;
      case "ImportExpression": {
        const source = node.source as AnyNode;
        edits.push({ start: source.start, end: source.start, text: `${MODULE_SPECIFIER}(` });
        edits.push({ start: source.end, end: source.end, text: ")" });
        break;
      }
      default:
        break;
    }
  };
  // A walk with its own stack, in the same order as recursion would take: a chain of member
  // accesses or calls, which the parser reads in a loop, can be deeper than the call stack.
  const nodes: AnyNode[] = [program as AnyNode];
  const depths: number[] = [0];
  const children: AnyNode[] = [];
  for (let node = nodes.pop(); node !== undefined; node = nodes.pop()) {
    const depth = depths.pop() ?? 0;
    visit(node, depth);
    for (const key in node) {
      const value = node[key];
      if (Array.isArray(value)) {
        for (const item of value) if (isNode(item)) children.push(item);
      } else if (isNode(value)) children.push(value);
    }
    while (children.length > 0) {
      nodes.push(children.pop() as AnyNode);
      depths.push(depth + 1);
    }
  }
  return reservedAt === undefined ? { edits } : { reservedAt };
}

function isNode(value: unknown): value is AnyNode {
  return typeof value === "object" && value !== null && typeof (value as Node).type === "string";
}

/** Applies edits sorted by `start` (edits at one offset in the order they are given). */
export function applyEdits(text: string, edits: Edit[]): string {
  const parts: string[] = [];
  let at = 0;
  for (const edit of edits) {
    parts.push(text.slice(at, edit.start), edit.text);
    at = edit.end;
  }
  parts.push(text.slice(at));
  return parts.join("");
}
