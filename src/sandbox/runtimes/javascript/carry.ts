import type { Declaration, Expression, Pattern, Program } from "acorn";
import { SESSION_LIMITS } from "../../../config";
import { applyEdits, byPosition, instrument, RESERVED_PREFIX } from "./instrument";
import { parseModule } from "./parse";

/**
 * A top-level binding a session carries from one execution to the next: by value (cloned by the
 * harness) or by source (function and class declarations, and bindings initialised with a
 * function or class expression, re-declared before the next execution's code).
 */
export type Carried =
  | { name: string; how: "value"; kind: "const" | "let" | "var" }
  | { name: string; how: "source"; source: string };

/** Binding initialisers a session carries by source (`const f = (x) => …`). */
const BY_SOURCE = /^(Arrow)?Function(Expression)?$|^ClassExpression$/;

/** A top-level binding the code declares, as the compiler saw it. */
export interface Declared {
  name: string;
  kind: "const" | "let" | "var" | "function" | "class" | "import";
  /** The declaration's own text when the binding can be carried by source. */
  source?: string;
}

/** An import declaration a session keeps, with the local names it binds. */
export interface CarriedImport {
  text: string;
  locals: string[];
}

/** What a session hands to the next compilation. */
export interface SessionScope {
  carried: Carried[];
  imports: CarriedImport[];
}

/** The top-level bindings and imports of a program. */
export function declarations(
  program: Program,
  js: string,
): { declared: Declared[]; imports: CarriedImport[] } {
  const declared: Declared[] = [];
  const imports: CarriedImport[] = [];
  const add = (node: Program["body"][number] | Declaration) => {
    switch (node.type) {
      case "VariableDeclaration":
        // `using` bindings are disposed at the end of the run: nothing to carry.
        if (node.kind !== "const" && node.kind !== "let" && node.kind !== "var") break;
        for (const { id, init } of node.declarations) {
          const byFunction =
            id.type === "Identifier" && init != null && BY_SOURCE.test(unwrap(init).type);
          for (const name of patternNames(id)) {
            declared.push(
              byFunction && init
                ? {
                    name,
                    kind: node.kind,
                    source: `${node.kind} ${name} = ${js.slice(init.start, init.end)};`,
                  }
                : { name, kind: node.kind },
            );
          }
        }
        break;
      case "FunctionDeclaration":
      case "ClassDeclaration":
        if (node.id) {
          declared.push({
            name: node.id.name,
            kind: node.type === "FunctionDeclaration" ? "function" : "class",
            source: js.slice(node.start, node.end),
          });
        }
        break;
      case "ImportDeclaration": {
        const locals = node.specifiers.map((s) => s.local.name);
        imports.push({ text: js.slice(node.start, node.end), locals });
        for (const name of locals) declared.push({ name, kind: "import" });
        break;
      }
      case "ExportNamedDeclaration":
        if (node.declaration) add(node.declaration);
        break;
      case "ExportDefaultDeclaration":
        if (
          (node.declaration.type === "FunctionDeclaration" ||
            node.declaration.type === "ClassDeclaration") &&
          node.declaration.id
        ) {
          add({ ...node.declaration, id: node.declaration.id });
        }
        break;
      default:
        break;
    }
  };
  for (const node of program.body) add(node);
  return { declared, imports };
}

/** A binding name generated code may declare: an identifier, written without escapes. */
const IDENTIFIER = /^[\p{ID_Start}$_][\p{ID_Continue}$\u200C\u200D]*$/u;

/** Words that are not binding names in a strict-mode async function inside a module. */
const RESERVED_WORDS = new Set(
  (
    "break case catch class const continue debugger default delete do else enum export extends " +
    "false finally for function if import in instanceof new null return super switch this throw " +
    "true try typeof var void while with yield await let static implements interface package " +
    "private protected public arguments eval"
  ).split(" "),
);

/**
 * Why a session may not carry a binding of this name, or undefined if it may. Names are pasted
 * into the code of later executions, so anything but a plain identifier is refused here; `input`
 * is each execution's own.
 */
export function nameProblem(name: unknown): string | undefined {
  if (
    typeof name !== "string" ||
    !IDENTIFIER.test(name) ||
    RESERVED_WORDS.has(name) ||
    name.startsWith(RESERVED_PREFIX)
  ) {
    return "not a variable name";
  }
  if (name === "input") return "each execution has its own input";
  // Assigning it to an object sets the object's prototype instead of a property.
  if (name === "__proto__") return "a name objects treat specially";
  return undefined;
}

/**
 * A name for a log line: as it is if it is an identifier, else cut short and quoted as a JSON
 * string in printable ASCII, so no line break, control or bidirectional character of it reaches
 * whoever reads the log.
 */
export function describeName(name: unknown): string {
  const text = String(name);
  if (IDENTIFIER.test(text)) return text;
  const cut = text.slice(0, QUOTED_CHARS);
  const quoted = JSON.stringify(cut).replace(
    /[^\x20-\x7e]/g,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return `${quoted}${cut.length < text.length ? "…" : ""}`;
}

const QUOTED_CHARS = 120;

/** Whether a kind is one a carried value may be declared with. */
function isValueKind(kind: unknown): kind is "const" | "let" | "var" {
  return kind === "const" || kind === "let" || kind === "var";
}

/**
 * The names the prelude makes getters for, so the harness can read them after the run: the
 * carried bindings the code does not declare again, and the code's own top-level bindings.
 * `carried` must have passed the prelude's checks.
 */
export function captureNames(carried: Carried[], declared: Declared[]): string[] {
  const redeclared = new Set(declared.map((d) => d.name));
  const names = new Set<string>();
  for (const c of carried) if (!redeclared.has(c.name)) names.add(c.name);
  for (const d of declared) {
    if (d.kind !== "import" && nameProblem(d.name) === undefined) names.add(d.name);
  }
  return [...names];
}

/** What `sessionPrelude` makes of a session's scope. */
export interface Prelude {
  /** Carried import declarations, for the top of the module. */
  imports: string[];
  /** Code for the start of the run's function: carried bindings, then the getters. */
  prelude: string;
  /** Positions of scope entries that failed the checks: never emitted, to be dropped. */
  refused: { carried: number[]; imports: number[] };
  /** One entry per refused binding or import, for the run's warn log. */
  warnings: string[];
}

/**
 * The code that re-creates carried bindings the new code does not declare again, instrumented
 * like user code, and the line that lets the harness read every binding afterwards.
 *
 * The scope comes from storage, so nothing of it is trusted: a name must be an identifier, a kind
 * one of const/let/var, a carried source exactly one declaration of its name, a carried import
 * exactly one import declaration of a module `allowImport` accepts, binding the locals recorded
 * for it. Whatever fails is refused and named in `warnings`. Values never enter the code: they
 * are read from the slots object.
 */
export function sessionPrelude(
  scope: SessionScope,
  declared: Declared[],
  slots: string,
  allowImport: (specifier: string) => boolean,
): Prelude {
  const redeclared = new Set(declared.map((d) => d.name));
  const refused: Prelude["refused"] = { carried: [], imports: [] };
  const warnings: string[] = [];

  const imports: string[] = [];
  const importLocals = new Set<string>();
  scope.imports.forEach((item, index) => {
    const locals = checkedImport(item, allowImport);
    if (!locals || locals.some((local) => importLocals.has(local))) {
      refused.imports.push(index);
      warnings.push(`import ${describeName(item?.text)} (not an import of a built-in module)`);
      return;
    }
    for (const local of locals) importLocals.add(local);
    if (!locals.some((local) => redeclared.has(local))) imports.push(item.text);
  });

  const kept: Carried[] = [];
  const seen = new Set<string>();
  const values: string[] = [];
  const sources: string[] = [];
  scope.carried.forEach((carried, index) => {
    const checked = checkCarried(carried, seen);
    if ("problem" in checked) {
      refused.carried.push(index);
      warnings.push(`${describeName(carried?.name)} (${checked.problem})`);
      return;
    }
    seen.add(carried.name);
    if (redeclared.has(carried.name)) return;
    kept.push(carried);
    if (carried.how === "value") {
      values.push(
        `${carried.kind} ${carried.name} = ${slots}.in[${JSON.stringify(carried.name)}];`,
      );
    } else {
      sources.push(checked.code);
    }
  });

  const getters = captureNames(kept, declared).map(
    (name) => `[${JSON.stringify(name)}]: () => ${name}`,
  );
  const capture = `${slots}.v = {__proto__: null, ${getters.join(", ")}};`;
  return {
    imports,
    prelude: `${values.join("")}\n${sources.join("\n")}\n${capture}\n`,
    refused,
    warnings,
  };
}

/**
 * Checks a stored carried binding; answers the code that re-declares it if it is carried by
 * source (instrumented like user code), or why it may not go into code.
 */
function checkCarried(carried: Carried, seen: Set<string>): { code: string } | { problem: string } {
  if (typeof carried !== "object" || carried === null) return { problem: "not a binding" };
  const problem = nameProblem(carried.name);
  if (problem !== undefined) return { problem };
  if (seen.has(carried.name)) return { problem: "carried twice" };
  if (carried.how === "value") {
    return isValueKind(carried.kind) ? { code: "" } : { problem: "not a value kind" };
  }
  if (carried.how !== "source") return { problem: "not a binding" };
  const code =
    typeof carried.source === "string"
      ? instrumentedDeclaration(carried.source, carried.name)
      : undefined;
  return code === undefined ? { problem: "its source is not one declaration of it" } : { code };
}

/**
 * A carried source instrumented like user code, if it is exactly one declaration of `name`: a
 * function or class declaration, or one `const`/`let`/`var` binding of `name` to a function or
 * class expression (what `declarations` records). Anything else is undefined.
 */
function instrumentedDeclaration(source: string, name: string): string | undefined {
  let program: Program;
  try {
    program = parseModule(source);
  } catch {
    return undefined;
  }
  const node = program.body.length === 1 ? program.body[0] : undefined;
  const declarator = node?.type === "VariableDeclaration" ? node.declarations[0] : undefined;
  const declares =
    ((node?.type === "FunctionDeclaration" || node?.type === "ClassDeclaration") &&
      node.id?.name === name) ||
    (node?.type === "VariableDeclaration" &&
      isValueKind(node.kind) &&
      node.declarations.length === 1 &&
      declarator?.id.type === "Identifier" &&
      declarator.id.name === name &&
      declarator.init != null &&
      BY_SOURCE.test(unwrap(declarator.init).type));
  if (!declares) return undefined;
  const result = instrument(program);
  if (!("edits" in result)) return undefined;
  return applyEdits(source, result.edits.sort(byPosition));
}

/**
 * The local names a stored import binds, if its text is exactly one import declaration of a
 * module `allowImport` accepts, binding those locals and nothing else.
 */
function checkedImport(
  item: CarriedImport,
  allowImport: (specifier: string) => boolean,
): string[] | undefined {
  if (typeof item !== "object" || item === null || typeof item.text !== "string") return undefined;
  if (!Array.isArray(item.locals)) return undefined;
  let program: Program;
  try {
    program = parseModule(item.text);
  } catch {
    return undefined;
  }
  const node = program.body.length === 1 ? program.body[0] : undefined;
  if (node?.type !== "ImportDeclaration" || !allowImport(String(node.source.value))) {
    return undefined;
  }
  const locals = node.specifiers.map((s) => s.local.name);
  const same =
    locals.length === item.locals.length && locals.every((local, i) => local === item.locals[i]);
  return same ? locals : undefined;
}

function unwrap(node: Expression): Expression {
  return node.type === "ParenthesizedExpression" ? unwrap(node.expression) : node;
}

function patternNames(pattern: Pattern): string[] {
  switch (pattern.type) {
    case "Identifier":
      return [pattern.name];
    case "ObjectPattern":
      return pattern.properties.flatMap((p) =>
        p.type === "RestElement" ? patternNames(p.argument) : patternNames(p.value),
      );
    case "ArrayPattern":
      return pattern.elements.flatMap((e) => (e ? patternNames(e) : []));
    case "RestElement":
      return patternNames(pattern.argument);
    case "AssignmentPattern":
      return patternNames(pattern.left);
    default:
      return [];
  }
}

/** What the harness reports per binding after a run. */
export type Captured = { v: string } | { f: 1 } | { x: string };

/** A session's variables between executions: the scope to compile with and the encoded values. */
export interface SessionVariables {
  scope: SessionScope;
  /** Encoded values of the bindings carried by value. */
  values: Record<string, string>;
}

/**
 * The variables without the scope entries a compilation refused (`Prelude.refused`): what failed
 * the checks is dropped from the session the first time it is read.
 */
export function withoutRefused(
  variables: SessionVariables,
  refused: Prelude["refused"],
): SessionVariables {
  if (refused.carried.length === 0 && refused.imports.length === 0) return variables;
  const carried = new Set(refused.carried);
  const imports = new Set(refused.imports);
  return {
    scope: {
      carried: variables.scope.carried.filter((_, i) => !carried.has(i)),
      imports: variables.scope.imports.filter((_, i) => !imports.has(i)),
    },
    values: variables.values,
  };
}

/**
 * The variables after a run: every binding the run left, carried by value or by source; what
 * cannot be carried is named in `warnings`. A binding the run never initialised keeps its old
 * state.
 *
 * `before` must be the scope the run was compiled with, less what the compilation refused.
 * `captured` comes from inside the guest: only the names the prelude made getters for are taken,
 * a kind comes from the compiler or the scope (never from the guest), and a source only from the
 * compiler's own slices of the code this session ran.
 */
export function nextVariables(
  before: SessionVariables,
  declared: Declared[],
  imports: CarriedImport[],
  captured: Readonly<Record<string, unknown>>,
): SessionVariables & { warnings: string[] } {
  const declaredByName = new Map(declared.map((d) => [d.name, d]));
  const previous = new Map(before.scope.carried.map((c) => [c.name, c]));
  const getters = new Set(captureNames(before.scope.carried, declared));
  const carried: Carried[] = [];
  // A plain object (it travels over RPC): read it by own keys only, as `constructor` is a name.
  const values: Record<string, string> = {};
  const warnings: string[] = [];
  for (const d of declared) {
    const problem = d.kind === "import" ? undefined : nameProblem(d.name);
    if (problem !== undefined) warnings.push(`${describeName(d.name)} (${problem})`);
  }
  const keepOld = (name: string) => {
    const old = previous.get(name);
    if (!old) return;
    carried.push(old);
    const value = Object.hasOwn(before.values, name) ? before.values[name] : undefined;
    if (old.how === "value" && typeof value === "string") values[name] = value;
  };
  for (const [name, reported] of Object.entries(captured)) {
    if (!getters.has(name)) {
      warnings.push(`${describeName(name)} (not a binding of this execution)`);
      continue;
    }
    const what = capturedOf(reported);
    const now = declaredByName.get(name);
    const old = previous.get(name);
    if (what === undefined) {
      warnings.push(`${name} (the sandbox reported it in a form it does not know)`);
    } else if ("v" in what) {
      const kind =
        now && isValueKind(now.kind) ? now.kind : old?.how === "value" ? old.kind : "let";
      carried.push({ name, how: "value", kind });
      values[name] = what.v;
    } else if ("f" in what) {
      if (now?.source) carried.push({ name, how: "source", source: now.source });
      else if (!now && old?.how === "source") carried.push(old);
      else warnings.push(`${name} (a function that is not a top-level declaration)`);
    } else if (what.x === "uninitialized") {
      keepOld(name);
    } else {
      warnings.push(`${name} (${what.x.replace(/^not cloneable \((.*)\)$/, "not cloneable: $1")})`);
    }
  }
  const importLocals = new Set(imports.flatMap((i) => i.locals));
  const keptImports = before.scope.imports.filter(
    (i) => !i.locals.some((l) => importLocals.has(l) || declaredByName.has(l)),
  );
  const scope = { carried, imports: [...keptImports, ...imports] };
  // Every later run compiles what the session carries, and the session stores it again.
  let size = compiledSize(scope);
  let first = 0;
  while (size > SESSION_LIMITS.carriedChars && first < carried.length) {
    const oldest = carried[first++] as Carried;
    size -= oldest.name.length + (oldest.how === "source" ? oldest.source.length : 0);
    delete values[oldest.name];
    warnings.push(
      `${oldest.name} (a session carries at most 1 MiB of code and names; the oldest go first)`,
    );
  }
  return { scope: { ...scope, carried: carried.slice(first) }, values, warnings };
}

function compiledSize(scope: SessionScope): number {
  let size = 0;
  for (const c of scope.carried) size += c.name.length + (c.how === "source" ? c.source.length : 0);
  for (const i of scope.imports) size += i.text.length;
  return size;
}

/** What the harness reported for one binding, if it has one of the shapes the harness makes. */
function capturedOf(reported: unknown): Captured | undefined {
  if (typeof reported !== "object" || reported === null) return undefined;
  const { v, f, x } = reported as { v?: unknown; f?: unknown; x?: unknown };
  if (typeof v === "string") return { v };
  if (f === 1) return { f: 1 };
  if (typeof x === "string") return { x };
  return undefined;
}
