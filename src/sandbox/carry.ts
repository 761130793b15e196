import type { Declaration, Expression, Pattern, Program } from "acorn";
import { parse } from "acorn";
import { instrument } from "./instrument";

/**
 * A top-level binding a session carries from one execution to the next: by value (cloned by the
 * harness) or by source (function and class declarations, and bindings initialised with a
 * function or class expression, re-declared before the next execution's code).
 */
export type Carried =
  | { name: string; how: "value"; kind: "const" | "let" | "var" }
  | { name: string; how: "source"; source: string };

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
            id.type === "Identifier" &&
            init != null &&
            /^(Arrow)?Function(Expression)?$|^ClassExpression$/.test(unwrap(init).type);
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

/**
 * The code that re-creates carried bindings the new code does not declare again, instrumented
 * like user code, and the line that lets the harness read every binding afterwards.
 */
export function sessionPrelude(
  scope: SessionScope,
  declared: Declared[],
  slots: string,
): { imports: string[]; prelude: string } {
  const redeclared = new Set(declared.map((d) => d.name));
  const kept = scope.carried.filter((c) => !redeclared.has(c.name));
  const values = kept
    .filter((c) => c.how === "value")
    .map((c) => `${c.kind} ${c.name} = ${slots}.in[${JSON.stringify(c.name)}];`);
  const sources = kept.flatMap((c) => (c.how === "source" ? [c.source] : []));
  let sourceText = sources.join("\n");
  if (sourceText !== "") {
    const program = parse(sourceText, { ecmaVersion: "latest", sourceType: "module" });
    const result = instrument(program);
    if ("edits" in result) {
      let out = "";
      let at = 0;
      for (const edit of result.edits.sort((a, b) => a.start - b.start)) {
        out += sourceText.slice(at, edit.start) + edit.text;
        at = edit.end;
      }
      sourceText = out + sourceText.slice(at);
    }
  }
  const names = [
    ...new Set([
      ...kept.map((c) => c.name),
      ...declared.filter((d) => d.kind !== "import").map((d) => d.name),
    ]),
  ];
  const capture = `${slots}.v = {${names.map((n) => `${JSON.stringify(n)}: () => ${n}`).join(", ")}};`;
  const imports = scope.imports
    .filter((i) => !i.locals.some((local) => redeclared.has(local)))
    .map((i) => i.text);
  return { imports, prelude: `${values.join("")}\n${sourceText}\n${capture}\n` };
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
 * The variables after a run: every binding the run left, carried by value or by source; what
 * cannot be carried is named in `warnings`. A binding the run never initialised keeps its old
 * state.
 */
export function nextVariables(
  before: SessionVariables,
  declared: Declared[],
  imports: CarriedImport[],
  captured: Record<string, Captured>,
): SessionVariables & { warnings: string[] } {
  const declaredByName = new Map(declared.map((d) => [d.name, d]));
  const previous = new Map(before.scope.carried.map((c) => [c.name, c]));
  const carried: Carried[] = [];
  const values: Record<string, string> = {};
  const warnings: string[] = [];
  const keepOld = (name: string) => {
    const old = previous.get(name);
    if (!old) return;
    carried.push(old);
    const value = before.values[name];
    if (old.how === "value" && value !== undefined) values[name] = value;
  };
  for (const [name, what] of Object.entries(captured)) {
    const now = declaredByName.get(name);
    const old = previous.get(name);
    if ("v" in what) {
      const kind =
        now?.kind === "const" || now?.kind === "let" || now?.kind === "var"
          ? now.kind
          : old?.how === "value"
            ? old.kind
            : "let";
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
  return {
    scope: { carried, imports: [...keptImports, ...imports] },
    values,
    warnings,
  };
}
