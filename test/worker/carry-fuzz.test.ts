import type { ArrowFunctionExpression, Node, Program, Statement } from "acorn";
import { parse } from "acorn";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type Carried,
  nextVariables,
  type SessionScope,
  withoutRefused,
} from "../../src/sandbox/runtimes/javascript/carry";
import { type CompiledModule, compile } from "../../src/sandbox/runtimes/javascript/compile";
import { call } from "./helpers";

// The oracle is the parser, not the compiler's own name check: a name may be carried when
// `let NAME;` in a strict async function declares exactly that one name, written as it is
// (no escapes), and it is none of the names the sandbox keeps for itself. acorn's Unicode tables
// may be newer than the engine's; a name the engine does not know as an identifier could not be
// declared in the guest, so it must be refused too.
function carriable(name: unknown): name is string {
  if (typeof name !== "string") return false;
  if (!/^[\p{ID_Start}$_][\p{ID_Continue}$\u200C\u200D]*$/u.test(name)) return false;
  if (name === "input" || name === "__proto__" || name.startsWith("__cordon$")) return false;
  let program: Program;
  try {
    program = parse(`(async () => { let ${name}; })`, {
      ecmaVersion: "latest",
      sourceType: "module",
    });
  } catch {
    return false;
  }
  const only = program.body.length === 1 ? program.body[0] : undefined;
  if (only?.type !== "ExpressionStatement") return false;
  const arrow = only.expression;
  if (arrow.type !== "ArrowFunctionExpression" || arrow.body.type !== "BlockStatement") {
    return false;
  }
  const decl = arrow.body.body.length === 1 ? arrow.body.body[0] : undefined;
  if (decl?.type !== "VariableDeclaration" || decl.declarations.length !== 1) return false;
  const id = decl.declarations[0]?.id;
  return (
    id?.type === "Identifier" &&
    id.name === name &&
    decl.declarations[0]?.init == null &&
    `(async () => { let ${name}; })`.slice(id.start, id.end) === name
  );
}

// `constructor` and `toString` are names an object lookup finds on Object.prototype.
const POOL = ["x", "total", "café", "ℹ", "$", "_a1", "f", "K", "constructor", "toString"];
const name = fc.oneof(
  fc.constantFrom(...POOL),
  fc.stringMatching(/^[a-zA-Z_$][a-zA-Z0-9_$]{0,5}$/),
  fc.constantFrom(
    "let",
    "await",
    "yield",
    "eval",
    "arguments",
    "static",
    "enum",
    "null",
    "class",
    "input",
    "__proto__",
    "constructor",
    "__cordon$t",
    "__cordon$",
    "\\u0061",
    "a = 1, b",
    "x; Math.max = () => 0; let y",
    "a = (globalThis.q = input, 1), b",
    "a/*",
    "a\nb",
    "a\u2028b",
    "x]: 1, [y",
    "`${x}`",
    "",
    " x",
  ),
  fc.string({ unit: "binary", maxLength: 8 }),
);
const kind = fc.oneof(
  fc.constantFrom("const", "let", "var"),
  fc.constantFrom("function", "let x = 1; Math.max = 0; let", "", "using"),
  fc.string({ maxLength: 6 }),
);
const source = (of: string) =>
  fc.oneof(
    fc.constantFrom(
      `function ${of}() { return 1 }`,
      `class ${of} { m() { for (;;) {} } }`,
      `const ${of} = (a) => a;`,
      `let ${of} = class {};`,
      `var ${of} = function () { while (true) {} };`,
      `function ${of}() {}\nMath.max = () => 0;`,
      `const ${of} = 1;`,
      `const ${of} = () => 1, other = 2;`,
      `function other() {}`,
      `function ${of}() { __cordon$t = 0 }`,
      `import x from "node:fs"`,
      "}{",
    ),
    fc.string({ maxLength: 12 }),
  );
const carried: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ name, how: fc.constant("value"), kind }) },
  {
    weight: 4,
    arbitrary: name.chain((n) =>
      fc.record({ name: fc.constant(n), how: fc.constant("source"), source: source(n) }),
    ),
  },
  { weight: 1, arbitrary: fc.record({ name, how: fc.string({ maxLength: 6 }) }) },
  { weight: 1, arbitrary: fc.constantFrom(null, 5, "x", []) },
);
const carriedImport: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    { text: 'import fs from "node:fs";', locals: ["fs"] },
    { text: 'import { join as j, dirname } from "node:path";', locals: ["j", "dirname"] },
    { text: 'import * as util from "node:util";', locals: ["util"] },
    { text: 'import fs from "node:fs"; Math.max = () => 0;', locals: ["fs"] },
    { text: 'import fs from "./evil.js";', locals: ["fs"] },
    { text: 'import fs from "node:fs";', locals: ["nope"] },
    { text: "Math.max = () => 0", locals: [] },
    { text: 5, locals: [] },
    null,
  ),
);
/** User code that declares a few names (it may redeclare carried ones). */
const code = fc
  .uniqueArray(fc.constantFrom(...POOL, "input"), { maxLength: 4 })
  .map((names) =>
    names.map((n, i) => (i % 2 === 0 ? `let ${n} = ${i};` : `function ${n}() {}`)).join("\n"),
  );

/** What the wrapper's body declares before the user's code, and the capture object's getters. */
function preludeOf(module: CompiledModule) {
  const program = parse(module.source, { ecmaVersion: "latest", sourceType: "module" });
  const imports = program.body.filter((s) => s.type === "ImportDeclaration").length;
  const exported = program.body.find((s) => s.type === "ExportDefaultDeclaration");
  const wrapper = exported?.declaration as ArrowFunctionExpression | undefined;
  const call = wrapper?.body;
  if (call?.type !== "CallExpression" || call.callee.type !== "ArrowFunctionExpression") {
    throw new Error("unexpected wrapper shape");
  }
  const body = call.callee.body;
  if (body.type !== "BlockStatement") throw new Error("unexpected wrapper body");
  const declared: string[] = [];
  let getters: string[] | undefined;
  const others: Statement[] = [];
  for (const statement of body.body) {
    if (statement.type === "VariableDeclaration") {
      for (const d of statement.declarations) {
        // The compiler's own bookkeeping (the completion value) is not a binding of the session.
        if (d.id.type === "Identifier" && !d.id.name.startsWith("__cordon$")) {
          declared.push(d.id.name);
        }
      }
    } else if (statement.type === "FunctionDeclaration" || statement.type === "ClassDeclaration") {
      if (statement.id) declared.push(statement.id.name);
    } else if (
      statement.type === "ExpressionStatement" &&
      statement.expression.type === "AssignmentExpression" &&
      isSlot(statement.expression.left, "v") &&
      statement.expression.right.type === "ObjectExpression"
    ) {
      getters = [];
      for (const p of statement.expression.right.properties) {
        if (p.type !== "Property" || p.key.type === "Identifier") continue; // __proto__: null
        const key = p.key.type === "Literal" ? String(p.key.value) : "?";
        const value = p.value;
        const readsItself =
          value.type === "ArrowFunctionExpression" &&
          value.body.type === "Identifier" &&
          value.body.name === key;
        getters.push(readsItself ? key : `<not a getter: ${key}>`);
      }
    } else if (!isSlotWrite(statement)) others.push(statement);
  }
  return { imports, declared, getters, others };
}

function isSlot(node: Node, slot: string): boolean {
  return (
    node.type === "MemberExpression" &&
    "object" in node &&
    (node.object as Node).type === "Identifier" &&
    (node.object as { name: string }).name === "__cordon$" &&
    "property" in node &&
    (node.property as { name?: string }).name === slot
  );
}

/** Statements the compiler adds for the result (completion value), never for the scope. */
function isSlotWrite(statement: Statement): boolean {
  return (
    statement.type === "ExpressionStatement" &&
    statement.expression.type === "AssignmentExpression" &&
    isSlot(statement.expression.left, "l")
  );
}

/** The carried entries the oracle accepts, first of each name, in order. */
function acceptable(scope: { carried: unknown[] }): Carried[] {
  const seen = new Set<string>();
  const out: Carried[] = [];
  for (const c of scope.carried) {
    if (typeof c !== "object" || c === null) continue;
    const entry = c as { name?: unknown; how?: unknown; kind?: unknown; source?: unknown };
    if (!carriable(entry.name) || seen.has(entry.name)) continue;
    const valid =
      (entry.how === "value" && ["const", "let", "var"].includes(String(entry.kind))) ||
      (entry.how === "source" &&
        typeof entry.source === "string" &&
        declaresOnly(entry.source, entry.name));
    if (!valid) continue;
    seen.add(entry.name);
    out.push(entry as Carried);
  }
  return out;
}

/** The source is one function or class declaration, or one binding to a function or class expression, of `name`. */
function declaresOnly(text: string, of: string): boolean {
  if (text.includes("__cordon$")) return false;
  let program: Program;
  try {
    program = parse(text, { ecmaVersion: "latest", sourceType: "module" });
  } catch {
    return false;
  }
  const [node, ...rest] = program.body;
  if (!node || rest.length > 0) return false;
  if (node.type === "FunctionDeclaration" || node.type === "ClassDeclaration") {
    return node.id?.name === of;
  }
  if (node.type !== "VariableDeclaration" || node.declarations.length !== 1) return false;
  const [d] = node.declarations;
  return (
    d?.id.type === "Identifier" &&
    d.id.name === of &&
    /^(ArrowFunctionExpression|FunctionExpression|ClassExpression)$/.test(d.init?.type ?? "")
  );
}

/** A warning names its binding as an identifier or as a JSON string in printable ASCII. */
function safelyNamed(warning: string): boolean {
  const quoted = /^(?:import )?("(?:[\x20-\x21\x23-\x5b\x5d-\x7e]|\\.)*")…? \(/.exec(warning);
  if (quoted?.[1] !== undefined) return typeof JSON.parse(quoted[1]) === "string";
  const bare = /^(?:import )?(\S+) \(/.exec(warning)?.[1];
  return bare !== undefined && /^[\p{ID_Start}$_][\p{ID_Continue}$\u200C\u200D]*$/u.test(bare);
}

const scopeArb = fc.record({
  carried: fc.array(carried, { maxLength: 8 }),
  imports: fc.array(carriedImport, { maxLength: 3 }),
});

describe("carrying a session's scope into generated code (property-based)", () => {
  it("declares exactly the stored bindings that are valid, and runs nothing of the rest", () => {
    fc.assert(
      fc.property(scopeArb, code, (scope, userCode) => {
        const module = compile(userCode, "javascript", scope as SessionScope);
        if (!module.ok) throw new Error(`did not compile: ${module.error.message}`);
        const { imports, declared, getters, others } = preludeOf(module);
        const userNames = new Set(
          [...userCode.matchAll(/(?:let|function) (\S+?)[ (]/g)].map((m) => String(m[1])),
        );
        const kept = acceptable(scope).filter((c) => !userNames.has(c.name));
        const carriedNames = kept.map((c) => c.name);
        expect(declared.slice(0, declared.length - userNames.size).sort()).toEqual(
          [...carriedNames].sort(),
        );
        expect(others).toEqual([]);
        expect(new Set(getters)).toEqual(
          new Set([...carriedNames, ...[...userNames].filter((n) => n !== "input")]),
        );
        expect(imports).toBeLessThanOrEqual(scope.imports.length);
        const refused = module.refused.carried.length + module.refused.imports.length;
        expect(module.warnings).toHaveLength(refused);
        expect(refused).toBeGreaterThanOrEqual(scope.carried.length - acceptable(scope).length);
        for (const warning of module.warnings) expect(safelyNamed(warning), warning).toBe(true);
      }),
      { seed: 20261206, numRuns: 400 },
    );
  });

  it("takes from a forged capture only the bindings the compiler made getters for", () => {
    const value = fc.oneof(
      fc.record({ v: fc.string({ maxLength: 5 }) }),
      fc.constant({ f: 1 }),
      fc.record({ x: fc.oneof(fc.constant("uninitialized"), fc.string({ maxLength: 5 })) }),
      fc.anything({ maxDepth: 1 }),
    );
    fc.assert(
      fc.property(
        scopeArb,
        code,
        fc.dictionary(fc.oneof(name, fc.constantFrom(...POOL)), value, { maxKeys: 8 }),
        (scope, userCode, captured) => {
          const module = compile(userCode, "javascript", scope as SessionScope);
          if (!module.ok) throw new Error(`did not compile: ${module.error.message}`);
          const before = withoutRefused(
            { scope: scope as SessionScope, values: { x: '[0,[["p",1]]]' } },
            module.refused,
          );
          const after = nextVariables(before, module.declared, module.imports, captured);
          const { getters } = preludeOf(module);
          const sources = new Set([
            ...module.declared.flatMap((d) => (d.source ? [d.source] : [])),
            ...before.scope.carried.flatMap((c) => (c.how === "source" ? [c.source] : [])),
          ]);
          const names = after.scope.carried.map((c) => c.name);
          expect(new Set(names).size).toBe(names.length);
          for (const c of after.scope.carried) {
            expect(carriable(c.name), c.name).toBe(true);
            expect(getters).toContain(c.name);
            if (c.how === "value") {
              expect(["const", "let", "var"]).toContain(c.kind);
              const value = Object.hasOwn(after.values, c.name) ? after.values[c.name] : undefined;
              expect(["string", "undefined"]).toContain(typeof value);
            } else expect(sources.has(c.source)).toBe(true);
          }
          for (const key of Object.keys(captured)) {
            if (!getters?.includes(key)) {
              expect(
                after.warnings.some((w) => w.includes(`(not a binding of this execution)`)),
              ).toBe(true);
            }
          }
          for (const warning of after.warnings) expect(safelyNamed(warning), warning).toBe(true);
          // What the run leaves compiles into a prelude that declares exactly it.
          const next = compile("", "javascript", after.scope);
          if (!next.ok) throw new Error(`did not compile: ${next.error.message}`);
          expect(next.warnings).toEqual([]);
          expect(preludeOf(next).declared.sort()).toEqual([...names].sort());
        },
      ),
      { seed: 20261206, numRuns: 400 },
    );
  });
});

const leaf = fc.oneof(
  fc.constantFrom("undefined", "null", "true", "false", "NaN", "-0", "Infinity", "-Infinity"),
  fc.double().map((d) => (Object.is(d, -0) ? "-0" : String(d))),
  fc.bigInt().map((b) => `${b}n`),
  fc.string({ unit: "binary", maxLength: 6 }).map((s) => JSON.stringify(s)),
  // isDeepStrictEqual never finds two invalid dates equal: the table below checks those.
  fc.date({ noInvalidDate: true }).map((d) => `new Date(${d.getTime()})`),
  fc.constantFrom(
    "/a+(b)?/giu",
    "new RegExp('')",
    "new Uint8Array([1, 2, 255])",
    "new Float64Array([NaN, -0, 1.5])",
    "new BigInt64Array([-1n, 2n])",
    "new DataView(new ArrayBuffer(2))",
    "new ArrayBuffer(3)",
    "new Error('m')",
    "new TypeError('t')",
    "new RangeError('')",
    "new Error('c', { cause: [1] })",
    "new String('s')",
    "Object(-0)",
    "Object(1n)",
    "new Boolean(false)",
    "[, 1]",
    "(() => { const o = { n: 1 }; o.self = o; return o; })()",
    "(() => { const s = { n: 1 }; return [s, s]; })()",
    "(() => { const m = new Map(); m.set(m, m); return m; })()",
  ),
);
const { value: valueSource } = fc.letrec<{
  value: string;
  array: string;
  object: string;
  map: string;
  set: string;
}>((tie) => ({
  value: fc.oneof(
    { depthSize: "small" },
    leaf,
    tie("array"),
    tie("object"),
    tie("map"),
    tie("set"),
  ),
  array: fc.array(tie("value"), { maxLength: 4 }).map((xs) => `[${xs.join(", ")}]`),
  object: fc
    .dictionary(
      fc.oneof(fc.string({ maxLength: 4 }), fc.constantFrom("__proto__", "constructor", "0")),
      tie("value"),
      {
        maxKeys: 4,
      },
    )
    .map(
      (o) =>
        `{${Object.entries(o)
          .map(([k, v]) => `[${JSON.stringify(k)}]: ${v}`)
          .join(", ")}}`,
    ),
  map: fc
    .array(fc.tuple(tie("value"), tie("value")), { maxLength: 3 })
    .map((pairs) => `new Map([${pairs.map(([k, v]) => `[${k}, ${v}]`).join(", ")}])`),
  set: fc.array(tie("value"), { maxLength: 3 }).map((xs) => `new Set([${xs.join(", ")}])`),
}));

/** Runs each value's source in one execution of a new session and compares in the next. */
async function carriedUnchanged(sources: string[]) {
  const res = await call("/v1/sessions", { method: "POST" });
  const { sessionId } = (await res.json()) as { sessionId: string };
  const exec = async (code: string) => {
    const r = await call(`/v1/sessions/${sessionId}/execute`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ code }),
    });
    return (await r.json()) as { status: string; result?: unknown; logs: unknown[] };
  };
  const names = sources.map((_, i) => `v${i}`);
  const first = await exec(sources.map((s, i) => `const v${i} = ${s};`).join("\n"));
  expect(first).toMatchObject({ status: "ok", logs: [] });
  const second = await exec(
    `import { isDeepStrictEqual } from "node:util";
const invalidDate = (d) => d instanceof Date && Number.isNaN(d.getTime());
const same = (a, b) => isDeepStrictEqual(a, b) || (invalidDate(a) && invalidDate(b));
const expected = [${sources.join(", ")}];
[${names.join(", ")}].map((v, i) => same(v, expected[i]) || ${JSON.stringify(sources)}[i])`,
  );
  await call(`/v1/sessions/${sessionId}`, { method: "DELETE" });
  expect(second).toMatchObject({ status: "ok", result: names.map(() => true) });
}

describe("carrying values between executions (through the API)", () => {
  it("gives the next execution each kind of value structuredClone keeps, unchanged", async () => {
    await carriedUnchanged([
      "new Date(NaN)",
      "new DataView(new Uint8Array([1, 2]).buffer)",
      "new Uint8Array(new ArrayBuffer(8), 2, 3)",
      "new TypeError('t')",
      "new Error('x', { cause: { n: 1 } })",
      "(() => { const a = [1]; a[5] = 2; a.p = a; return a; })()",
      "(() => { const a = []; a[2 ** 31] = 1; return a; })()",
      "{ ['__proto__']: { n: 1 }, constructor: 2 }",
      "Object.assign([], { ['__proto__']: 1 })",
      "new String('s')",
      "new Number(-0)",
      "Object(2n ** 70n)",
      "new Boolean(false)",
    ]);
  });

  it("gives the next execution values deep-equal to what the last one left (property-based)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(valueSource, { minLength: 1, maxLength: 5 }), carriedUnchanged),
      { seed: 20261206, numRuns: 40 },
    );
  });
});
