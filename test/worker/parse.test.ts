import { parse } from "acorn";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseModule } from "../../src/sandbox/runtimes/javascript/parse";

const names = fc.constantFrom("x", "y");
/** Statements that declare `x` and `y` in every way and in every kind of scope. */
const { statement } = fc.letrec<{ statement: string }>((tie) => {
  const list = fc.array(tie("statement"), { maxLength: 3 }).map((b) => b.join(" "));
  return {
    statement: fc.oneof(
      { depthSize: "small" },
      fc.tuple(fc.constantFrom("var", "let", "const"), names).map(([k, n]) => `${k} ${n} = 1;`),
      names.map((n) => `function ${n}() {}`),
      names.map((n) => `class ${n} {}`),
      names.map((n) => `export { ${n} };`),
      names.map((n) => `import { a as ${n} } from "m";`),
      list.map((b) => `{ ${b} }`),
      fc.tuple(names, list).map(([n, b]) => `try {} catch (${n}) { ${b} }`),
      fc.tuple(names, list).map(([n, b]) => `try {} catch ([${n}]) { ${b} }`),
      list.map((b) => `function f() { ${b} }`),
      list.map((b) => `(() => { ${b} });`),
      list.map((b) => `class C { static { ${b} } }`),
      fc
        .tuple(fc.constantFrom("var", "let", "const"), names, list)
        .map(([k, n, b]) => `for (${k} ${n} of []) { ${b} }`),
      list.map((b) => `switch (1) { case 1: ${b} }`),
    ),
  };
});

const outcome = (parseWith: () => unknown) => {
  try {
    parseWith();
    return "parsed";
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
};

describe("the compiler's parser", () => {
  it("accepts exactly what acorn accepts, with the same errors (redeclarations, exports)", () => {
    for (const sourceType of ["module", "script"] as const) {
      fc.assert(
        fc.property(fc.array(statement, { maxLength: 5 }), (statements) => {
          const code = statements.join("\n");
          expect(outcome(() => parseModule(code, { sourceType }))).toBe(
            outcome(() => parse(code, { ecmaVersion: "latest", sourceType })),
          );
        }),
        { seed: 20261206, numRuns: 3000 },
      );
    }
  });
});
