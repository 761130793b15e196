import type { Node } from "acorn";

/** Prefix of the identifiers the compiler adds; user code may not use it. */
export const RESERVED_PREFIX = "__cordon$";
/** Counts work and checks the run's deadline every so often (loops, function entries). */
export const TICK = `${RESERVED_PREFIX}t`;
/** Checks the run's deadline at once (catch and finally blocks, so a timeout cannot be swallowed). */
export const CHECK = `${RESERVED_PREFIX}c`;

/** A single text insertion or replacement over the parsed JavaScript. */
export interface Edit {
  start: number;
  end: number;
  text: string;
  /** Added text that stands for nothing in the code as sent. */
  opaque?: boolean;
}

type AnyNode = Node & Record<string, unknown>;

/**
 * Adds deadline checks to every loop body, function body, catch clause and finally block, so
 * code that never yields still stops at its deadline. The runtime forbids `eval` and
 * `new Function`, so no uninstrumented code can be made at run time.
 * Returns the edits, or the start offset of a reserved identifier the code uses.
 */
export function instrument(program: Node): { edits: Edit[] } | { reservedAt: number } {
  const edits: Edit[] = [];
  let reservedAt: number | undefined;
  const atBlockStart = (block: AnyNode, call: string) =>
    edits.push({ start: block.start + 1, end: block.start + 1, text: `${call}();` });
  const guard = (body: AnyNode) => {
    if (body.type === "BlockStatement") atBlockStart(body, TICK);
    else {
      edits.push({ start: body.start, end: body.start, text: `{${TICK}();` });
      edits.push({ start: body.end, end: body.end, text: "}" });
    }
  };

  const visit = (node: AnyNode) => {
    switch (node.type) {
      case "Identifier":
        if (String(node.name).startsWith(RESERVED_PREFIX)) reservedAt ??= node.start;
        break;
      case "WhileStatement":
      case "DoWhileStatement":
      case "ForStatement":
      case "ForInStatement":
      case "ForOfStatement":
        guard(node.body as AnyNode);
        break;
      case "FunctionDeclaration":
      case "FunctionExpression":
      case "ArrowFunctionExpression": {
        const body = node.body as AnyNode;
        if (body.type === "BlockStatement") atBlockStart(body, TICK);
        else {
          edits.push({ start: body.start, end: body.start, text: `(${TICK}(), ` });
          edits.push({ start: body.end, end: body.end, text: ")" });
        }
        break;
      }
      case "CatchClause":
        atBlockStart(node.body as AnyNode, CHECK);
        break;
      case "TryStatement":
        if (node.finalizer) atBlockStart(node.finalizer as AnyNode, CHECK);
        break;
      default:
        break;
    }
    for (const key in node) {
      const value = node[key];
      if (Array.isArray(value)) {
        for (const item of value) if (isNode(item)) visit(item);
      } else if (isNode(value)) visit(value);
    }
  };
  visit(program as AnyNode);
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
