// The compiler's completion value against the engine's own: generated programs of nested
// statements are run by Node's `eval` (a script, through node:vm) and, compiled, as the module the
// guest harness would import; the answers must agree. No server: this checks the compiler.
import vm from "node:vm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compile } from "../../src/sandbox/runtimes/javascript/compile";

type Tree =
  | { t: "expr" | "decl" | "empty" | "break" | "continue" | "breakLabel" | "throw" }
  | { t: "block"; body: Tree[] }
  | { t: "if"; c: boolean; yes: Tree; no: Tree | null }
  | { t: "loop"; kind: "for" | "while" | "forof" | "forin" | "dowhile"; body: Tree }
  | { t: "switch"; disc: number; cases: Tree[][]; dflt: boolean }
  | { t: "try"; block: Tree[]; handler: Tree[] | null; finalizer: Tree[] | null }
  | { t: "label"; body: Tree };

const { tree } = fc.letrec<{ tree: Tree }>((tie) => {
  const list = fc.array(tie("tree"), { maxLength: 3 });
  return {
    tree: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      fc.constantFrom<Tree>(
        { t: "expr" },
        { t: "decl" },
        { t: "empty" },
        { t: "break" },
        { t: "continue" },
        { t: "breakLabel" },
        { t: "throw" },
      ),
      fc.record({ t: fc.constant("block" as const), body: list }),
      fc.record({
        t: fc.constant("if" as const),
        c: fc.boolean(),
        yes: tie("tree"),
        no: fc.option(tie("tree")),
      }),
      fc.record({
        t: fc.constant("loop" as const),
        kind: fc.constantFrom(
          "for" as const,
          "while" as const,
          "forof" as const,
          "forin" as const,
          "dowhile" as const,
        ),
        body: tie("tree"),
      }),
      fc.record({
        t: fc.constant("switch" as const),
        disc: fc.integer({ min: 0, max: 2 }),
        cases: fc.array(list, { maxLength: 3 }),
        dflt: fc.boolean(),
      }),
      fc.record({
        t: fc.constant("try" as const),
        block: list,
        handler: fc.option(list),
        finalizer: fc.option(list),
      }),
      fc.record({ t: fc.constant("label" as const), body: tie("tree") }),
    ),
  };
});

interface Context {
  labels: string[];
  loop: boolean;
  breakable: boolean;
  caught: boolean;
}

/** Renders a tree as code that always parses and ends: jumps only where they have a target. */
function render(trees: Tree[]): string {
  let n = 0;
  // A declaration alone as a loop's or an if's body would not parse.
  const alone = (tree: Tree, ctx: Context) => {
    const code = r(tree, ctx);
    return tree.t === "decl" ? `{ ${code} }` : code;
  };
  const r = (tree: Tree, ctx: Context): string => {
    switch (tree.t) {
      case "expr":
        return `${++n};`;
      case "decl":
        return `let d${++n} = 0;`;
      case "empty":
        return ";";
      case "break":
        return ctx.breakable ? "break;" : `${++n};`;
      case "continue":
        return ctx.loop ? "continue;" : `${++n};`;
      case "breakLabel":
        return ctx.labels.length > 0 ? `break ${ctx.labels.at(-1)};` : `${++n};`;
      case "throw":
        return ctx.caught ? `throw ${++n};` : `${++n};`;
      case "block":
        return `{ ${tree.body.map((s) => r(s, ctx)).join(" ")} }`;
      case "if":
        return `if (${tree.c}) ${alone(tree.yes, ctx)}${tree.no ? ` else ${alone(tree.no, ctx)}` : ""}`;
      case "loop": {
        const k = ++n;
        const body = alone(tree.body, { ...ctx, loop: true, breakable: true });
        switch (tree.kind) {
          case "for":
            return `for (let i${k} = 0; i${k} < 2; i${k}++) ${body}`;
          case "forof":
            return `for (const o${k} of [1, 2]) ${body}`;
          case "forin":
            return `for (const o${k} in { a: 1, b: 2 }) ${body}`;
          case "while":
            return `{ let w${k} = 0; while (w${k}++ < 2) ${body} }`;
          default:
            return `{ let w${k} = 0; do ${body} while (w${k}++ < 1) }`;
        }
      }
      case "switch": {
        const inner = { ...ctx, breakable: true };
        const cases = tree.cases.map((c, i) => `case ${i}: ${c.map((s) => r(s, inner)).join(" ")}`);
        if (tree.dflt) cases.push(`default: ${++n};`);
        return `switch (${tree.disc}) { ${cases.join(" ")} }`;
      }
      case "try": {
        const inBlock = tree.handler ? { ...ctx, caught: true } : ctx;
        const block = `try { ${tree.block.map((s) => r(s, inBlock)).join(" ")} }`;
        const handler = tree.handler
          ? ` catch (e) { ${tree.handler.map((s) => r(s, ctx)).join(" ")} }`
          : "";
        const finalizer =
          tree.finalizer || !tree.handler
            ? ` finally { ${(tree.finalizer ?? []).map((s) => r(s, ctx)).join(" ")} }`
            : "";
        return `${block}${handler}${finalizer}`;
      }
      case "label": {
        const label = `L${++n}`;
        return `${label}: ${alone(tree.body, { ...ctx, labels: [...ctx.labels, label] })}`;
      }
    }
  };
  const top: Context = { labels: [], loop: false, breakable: false, caught: false };
  return trees.map((tree) => r(tree, top)).join("\n");
}

/** What `eval` of the code as a strict script answers, as JSON. */
function evaluated(code: string): string {
  const value = vm.runInContext(`"use strict"; undefined;\n${code}`, vm.createContext({}));
  return JSON.stringify(value ?? null);
}

/** What the compiled module answers, run as the harness runs it, as JSON. */
async function compiled(code: string): Promise<string> {
  const made = compile(code, "javascript");
  if (!made.ok) throw new Error(`${made.error.name}: ${made.error.message}\n${code}`);
  const module = (await import(`data:text/javascript,${encodeURIComponent(made.source)}`)) as {
    default: (
      slots: { l?: unknown },
      input: unknown,
      tick: () => void,
      check: () => void,
    ) => Promise<void>;
  };
  const slots: { l?: unknown } = {};
  await module.default(
    slots,
    undefined,
    () => {},
    () => {},
  );
  return JSON.stringify((await slots.l) ?? null);
}

describe("the completion value", () => {
  it("is what eval answers for generated programs of nested statements and jumps", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(tree, { minLength: 1, maxLength: 6 }), async (trees) => {
        const code = render(trees);
        expect(await compiled(code), code).toBe(evaluated(code));
      }),
      { numRuns: 3000, seed: -563744531 },
    );
  });
});
