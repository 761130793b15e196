import type {
  BlockStatement,
  LabeledStatement,
  ModuleDeclaration,
  Node,
  Statement,
  TryStatement,
} from "acorn";
import type { Edit } from "./instrument";

type TopLevel = Statement | ModuleDeclaration;

/**
 * Edits that keep the completion value of a module's top-level statements in the variable
 * `target`, the value `eval` gives for the same statements as a script.
 *
 * This is V8's own rewrite of scripts for their completion value (src/parsing/rewriter.cc),
 * done on the text: walking each statement list backwards, an expression statement assigns its
 * value to `target` unless a later statement surely will; `if`, loops, `switch` and `try` set
 * `target` to undefined first where their bodies may leave no value; in a breakable statement
 * (loop, `switch`, labelled block) every statement before a `break` or `continue` assigns, and a
 * `finally` block keeps the value it found unless it ends in a jump. Only statements outside
 * functions and classes are touched, so code in a hot loop pays for an assignment only where the
 * value can be seen. `target` must be declared before the code and read after it; `save` names a
 * block-scoped variable the `finally` blocks use.
 */
export function completionEdits(body: TopLevel[], target: string, save: string): Edit[] {
  const edits: Edit[] = [];
  const reset = `${target} = void 0`;
  /** A later statement surely sets `target` (V8's `is_set_`). */
  let isSet = false;
  /** Inside a loop, `switch` or labelled statement: `break`/`continue` may leave (`breakable_`). */
  let breakable = false;

  const insert = (at: number, text: string, depth: number) =>
    edits.push({ start: at, end: at, text, depth });
  const wrap = (node: Node, depth: number, open: string, close: string) => {
    edits.push({ start: node.start, end: node.start, text: open, depth: depth - 0.25 });
    edits.push({ start: node.end, end: node.end, text: close, depth: depth - 0.25, close: true });
  };

  /** Where `target = undefined` goes before a statement: before its labels, as one statement. */
  interface Site {
    node: Node;
    depth: number;
    inList: boolean;
  }
  const resetBefore = (site: Site) => {
    if (site.inList) insert(site.node.start, `${reset};`, site.depth);
    else wrap(site.node, site.depth, `{${reset};`, "}");
  };
  const breakableScope = (yes: boolean, visit: () => void) => {
    const was = breakable;
    breakable = breakable || yes;
    visit();
    breakable = was;
  };

  const list = (statements: TopLevel[], depth: number) => {
    for (let i = statements.length - 1; i >= 0 && (breakable || !isSet); i--) {
      const node = statements[i] as TopLevel;
      statement(node, depth, { node, depth, inList: true });
    }
  };
  const block = (node: BlockStatement, depth: number) => list(node.body, depth + 1);

  const statement = (node: TopLevel, depth: number, site: Site) => {
    switch (node.type) {
      case "ExpressionStatement":
        if (!isSet) {
          wrap(node.expression, depth + 1, `${target} = (`, ")");
          isSet = true;
        }
        break;
      case "ThrowStatement":
        // V8's `throw` is an expression statement: `.result = throw x` assigns nothing.
        isSet = true;
        break;
      case "BlockStatement":
        block(node, depth);
        break;
      case "LabeledStatement":
        // V8 parses `L: break L;` (a break out of its own labels) as an empty statement.
        if (breaksItsOwnLabel(node)) break;
        // A label makes the statement a target of `break`.
        breakableScope(true, () => statement(node.body, depth + 1, site));
        break;
      case "IfStatement": {
        const after = isSet;
        statement(node.consequent, depth + 1, alone(node.consequent, depth + 1));
        const inThen = isSet;
        isSet = after;
        if (node.alternate) statement(node.alternate, depth + 1, alone(node.alternate, depth + 1));
        if (!(inThen && isSet)) insert(node.test.start, `${reset}, `, depth + 1);
        isSet = true;
        break;
      }
      case "WhileStatement":
      case "DoWhileStatement":
      case "ForStatement":
      case "ForInStatement":
      case "ForOfStatement":
        breakableScope(true, () =>
          statement(node.body as Statement, depth + 1, alone(node.body, depth + 1)),
        );
        resetBefore(site);
        isSet = true;
        break;
      case "SwitchStatement":
        breakableScope(true, () => {
          for (let i = node.cases.length - 1; i >= 0; i--) {
            list(node.cases[i]?.consequent ?? [], depth + 2);
          }
        });
        insert(node.discriminant.start, `${reset}, `, depth + 1);
        isSet = true;
        break;
      case "TryStatement":
        tryStatement(node, depth);
        break;
      case "BreakStatement":
      case "ContinueStatement":
        isSet = false;
        break;
      default:
        // Declarations, imports and exports, empty and `debugger` statements: no value.
        break;
    }
  };

  const alone = (node: Node, depth: number): Site => ({ node, depth, inList: false });

  /** V8 reads `try {} catch {} finally {}` as try-finally around a try-catch. */
  const tryStatement = (node: TryStatement, depth: number) => {
    const finalizer = node.finalizer;
    if (finalizer && breakable) {
      // Only what comes before a `break` or `continue` in `finally` counts.
      isSet = true;
      block(finalizer, depth + 1);
      if (isSet) {
        insert(finalizer.start + 1, `let ${save} = ${target};`, depth + 2);
        insert(finalizer.end - 1, `;${target} = ${save};`, depth + 2);
      } else insert(finalizer.start + 1, `${reset};`, depth + 2);
      isSet = false;
    }
    if (node.handler) {
      const after = isSet;
      block(node.block, depth + 1);
      const inTry = isSet;
      isSet = after;
      block(node.handler.body, depth + 2);
      if (!(isSet && inTry)) insert(node.block.start + 1, `${reset};`, depth + 2);
      isSet = true;
    } else block(node.block, depth + 1);
    if (finalizer && !isSet) insert(node.block.start + 1, `${reset};`, depth + 2);
    isSet = true;
  };

  list(body, 1);
  return edits;
}

/** Whether a labelled statement is only a `break` to one of its own labels (`a: b: break a;`). */
function breaksItsOwnLabel(node: LabeledStatement): boolean {
  const labels = new Set<string>();
  let body: Statement = node;
  while (body.type === "LabeledStatement") {
    labels.add(body.label.name);
    body = body.body;
  }
  return body.type === "BreakStatement" && body.label != null && labels.has(body.label.name);
}
