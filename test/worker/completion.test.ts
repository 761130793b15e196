import { describe, expect, it } from "vitest";
import { run } from "./helpers";

// Expected answers: what `eval` gives for the same code as a script, hard-coded from a one-off
// check in Node 22 (`vm.runInContext` of the code in strict mode, with `input` = 1); undefined is
// null. test/e2e/completion-eval.test.ts compares against eval itself on generated programs.
const SCRIPT_CASES: [string, unknown][] = [
  ["if (true) { 1 } else { 2 }", 1],
  ["if (false) { 1 } else { 2 }", 2],
  ["if (input) { 'yes' } else { 'no' }", "yes"],
  ["1; if (false) { 2 }", null],
  ["1; if (true) {}", null],
  ["try { throw new Error('boom') } catch (e) { e.message }", "boom"],
  ["try { 1 } finally { 2 }", 1],
  ["try { 1 } catch { 2 }", 1],
  ["1; try {} finally {}", null],
  ["try { 1; throw 0 } catch {}", null],
  ["1; var x = 2;", 1],
  ["1; let y = 2; function f() {} class C {}", 1],
  ["let i = 0; while (i < 3) { i++; i * 10 }", 30],
  ["1; while (false) {}", null],
  ["for (let i = 0; i < 3; i++) { if (i === 1) break; i }", null],
  ["for (let i = 0; i < 3; i++) { i; if (i === 1) break; }", null],
  ["for (let i = 0; i < 3; i++) { i; { if (i === 1) break; } }", null],
  ["outer: { 1; break outer; 2 }", 1],
  ["switch (2) { case 1: 'one'; case 2: 'two'; case 3: 'three'; break; default: 'd' }", "three"],
  ["switch (5) { case 1: 'one' }", null],
  ["switch (1) { case 1: 1; break; case 2: 2 }", 1],
  ["1; switch (1) { case 1: }", null],
  ["do { 'once' } while (false)", "once"],
  ["1; do {} while (false)", null],
  ["for (const k of [1, 2]) k * 2", 4],
  ["1; for (const k of []) k", null],
  ["for (const k in { a: 1, b: 2 }) k", "b"],
  [
    "x: for (const a of [1, 2]) { for (const b of [3, 4]) { if (b === 4) continue x; a + b } }",
    null,
  ],
  ["let n = 5; n", 5],
  ["{ 1 } ; {}", 1],
  ["1; ;", 1],
  ["'use strict'; 5", 5],
  ["if (true) 1; else 2", 1],
  ["while (true) { try { 1; break } finally { 2 } }", 1],
  ["while (true) { try { 1 } finally { break } }", null],
  ["while (true) { try { 1 } finally { 3; break } }", 3],
  ["const a = 1; a + 1; const b = 2;", 2],
  ["label: 5", 5],
  // V8 parses a break out of its own label as an empty statement.
  ["1; L: break L;", 1],
  ["for (let i = 0; i < 2; i++) try { try { 2 } finally {} } finally { L: break L; }", 2],
  ["if (true) { 1 } else { 2 } var z = 3;", 1],
  ["function g() { 5 } g()", null],
  ["class K { static { 1 } } 2", 2],
  ["let s = 0; for (let i = 0; i < 5; i++) s += i;", 10],
  ["for (;;) { 1; break; }", 1],
  ["let c = 0; while (true) { c++; if (c > 2) { 'done'; break } else { c } }", "done"],
  ["1; { let q = 2; }", 1],
  ["try { try { throw 1 } finally { 'inner' } } catch (e) { }", null],
  ["try { 'kept' } catch (e) { 'unused' } finally { 'ignored' }", "kept"],
  ["1; debugger;", 1],
  ["if (true) { } else { 2 }", null],
  ["1; if (true) { var w = 1 }", null],
  // Where V8 (and so `eval`) departs from the letter of the spec, which would answer null here.
  ["try { try { 1 } finally { throw 2 } } catch (e) { }", 1],
  ["1; try { 2; undefinedFunction() } catch (e) { }", null],
  ["x: if (true) { 1; break x; }", 1],
  ["for (const a of [1, 2]) { try { a } finally { if (a === 2) continue } }", null],
];

// Module-only code (top-level await, imports, exports), checked by hand against the rule.
const MODULE_CASES: [string, unknown][] = [
  ["await Promise.resolve(7)", 7],
  ["if (true) { await Promise.resolve('awaited') }", "awaited"],
  ["Promise.resolve(8)", 8],
  ["1; import fs from 'node:fs';", 1],
  ["1; export const q = 2;", 1],
  ["export default 5;\n6", 5],
  ["6;\nexport default function (input) { return input + 1 }", 2],
  ["for (const k of [1, 2]) { await null; k }", 2],
];

describe("the result is the completion value of the top-level statements, as in a REPL", () => {
  it.each(SCRIPT_CASES)("%s → %j", async (code, expected) => {
    const r = await run({ code, input: 1 });
    expect(r).toMatchObject({ status: "ok", result: expected });
  });

  it.each(MODULE_CASES)("%s → %j (module code)", async (code, expected) => {
    const r = await run({ code, input: 1 });
    expect(r).toMatchObject({ status: "ok", result: expected });
  });

  it("is the same in TypeScript, where type-only statements leave no value", async () => {
    const r = await run({
      code: "const t: number = 1;\nif (t > 0) { 'ts' }\ninterface I { a: string }\ntype T = I;",
      language: "typescript",
    });
    expect(r).toMatchObject({ status: "ok", result: "ts" });
  });

  it("keeps errors located in the code as sent", async () => {
    const r = await run({ code: "let n = 0;\nif (n === 0) {\n  n++;\n  null.x;\n}" });
    expect(r).toMatchObject({ status: "error", error: { name: "TypeError", line: 4, column: 8 } });
  });

  it("answers the value a loop body last produced, with nothing else to say", async () => {
    // The completion bookkeeping is not a binding: nothing new is carried or warned about.
    const res = await run({ code: "let total = 0;\nfor (const n of [1, 2, 3]) { total += n }" });
    expect(res).toMatchObject({ status: "ok", result: 6, logs: [] });
  });
});
