import type { Node, Program } from "acorn";
import { transform } from "sucrase";
import type { PackageEntry } from "../../../packages/build";
import { packageEntries } from "../../../packages/entries";
import { parseBare } from "../../../packages/specifier";
import type { CompileError, Language, SourcePosition } from "../types";
import {
  type CarriedImport,
  type Declared,
  declarations,
  type Prelude,
  type SessionScope,
  sessionPrelude,
} from "./carry";
import { completionEdits } from "./completion";
import {
  applyEdits,
  byPosition,
  CHECK,
  type Edit,
  instrument,
  RESERVED_PREFIX,
  TICK,
} from "./instrument";
import { parseModule } from "./parse";
import { guestImports } from "./shims";
import { originalPosition } from "./source-map";

/** User code turned into the module the guest harness imports. */
export interface CompiledModule {
  ok: true;
  /** ES module whose default export runs the code once: `(slots, input, tick, check) => Promise<void>`. */
  source: string;
  /** Maps a 1-based position in `source` back to the code as sent. */
  toOriginal(line: number, column: number): SourcePosition | undefined;
  /** Top-level bindings the code declares (what a session may carry). */
  declared: Declared[];
  /** The code's import declarations (a session keeps them for later executions). */
  imports: CarriedImport[];
  /** Entries of the session scope that failed its checks: left out of the code, to be dropped. */
  refused: Prelude["refused"];
  /** What was refused, one entry each, for the run's warn log. */
  warnings: string[];
  /**
   * The npm packages the code (and its session's carried imports) names: what must be resolved
   * and linked (./packages.ts) before it can run. Empty unless compiled with `packages`.
   */
  packages: PackageEntry[];
  /** About how many bytes of memory the module keeps alive (its source included). */
  bytes: number;
}

/** Name of the per-run object through which the wrapped module hands back its results. */
export const SLOTS = RESERVED_PREFIX;
/** The completion value of the top-level statements so far (src/sandbox/completion.ts). */
const COMPLETION = `${RESERVED_PREFIX}v`;

/** Where the prelude ends and the wrapper of the code begins (src/sandbox/runtimes/javascript/packages.ts finds it). */
export const PRELUDE_END = "export default (";

// Arrow functions, so the code cannot reach the slots object as `arguments[0]` (nor the wrapper as
// `arguments.callee`) and `this` is the module's own, undefined. Tool namespaces are parameters
// of the wrapper, filled from the run's slots: bindings of each run of its own (a reused isolate's
// global object is frozen), which the code's own declarations may shadow.
const preludeEnd = (namespaces: readonly string[] | undefined) =>
  `${PRELUDE_END}${SLOTS}, input, ${TICK}, ${CHECK}${
    namespaces && namespaces.length > 0 ? `, { ${namespaces.join(", ")} } = ${SLOTS}.t` : ""
  }) => (async () => { let ${COMPLETION};\n`;
/** A namespace name the wrapper may bind (the request schema allows no other). */
const NAMESPACE = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
/** On a line of its own: the code may end in a line comment. */
const EPILOGUE_END = "\n})();\n";

/**
 * Compiles JavaScript or TypeScript into a module the harness can run again and again.
 *
 * Types are stripped (not checked), the module is parsed, and its top level is wrapped in an
 * async function so each run starts from fresh bindings; the default export, or else the
 * completion value of the top-level statements, is handed back through the slots object.
 */
export function compile(
  code: string,
  language: Language,
  scope?: SessionScope,
  options: CompileOptions = {},
): CompiledModule | CompileError {
  const packages = options.packages === true;
  const isAllowedImport = (specifier: string) => importProblem(specifier, packages) === undefined;
  const namespaces = options.namespaces;
  if (namespaces?.some((name) => !NAMESPACE.test(name) || name.startsWith(RESERVED_PREFIX))) {
    return {
      ok: false,
      error: { name: "SyntaxError", message: "a tool namespace is no identifier" },
    };
  }
  let js = code;
  let mappings: string | undefined;
  if (language === "typescript") {
    try {
      const out = transform(code, {
        transforms: ["typescript"],
        disableESTransforms: true,
        sourceMapOptions: { compiledFilename: "user.js" },
        filePath: "user.ts",
      });
      js = out.code;
      mappings = out.sourceMap?.mappings ?? "";
    } catch (err) {
      return syntaxError(err, code, undefined);
    } finally {
      // sucrase keeps its last parse (tokens and scopes) in module state: 60 MB after 1 MiB of
      // code, held until the next transform. An empty one lets it go.
      transform("", { transforms: ["typescript"] });
    }
  }
  const jsLines = Int32Array.from(lineStarts(js));
  const toCode = (offset: number): SourcePosition => {
    const { line, column } = positionOf(jsLines, offset);
    const original = mappings === undefined ? { line, column } : fromTs(mappings, line, column);
    return { line: original.line + 1, column: original.column + 1 };
  };

  let program: Program;
  try {
    program = parseModule(js, { preserveParens: true });
  } catch (err) {
    return syntaxError(err, js, mappings);
  }

  const instrumented = instrument(program);
  if ("reservedAt" in instrumented) {
    return {
      ok: false,
      error: {
        name: "SyntaxError",
        message: `identifiers starting with ${RESERVED_PREFIX} are reserved by the sandbox`,
        ...toCode(instrumented.reservedAt),
      },
    };
  }
  const edits: Edit[] = instrumented.edits;
  const imports: string[] = [];
  const tail: string[] = [];
  let hasDefault = false;
  for (const node of program.body) {
    switch (node.type) {
      case "ImportDeclaration": {
        const specifier = String(node.source.value);
        const problem = importProblem(specifier, packages);
        if (problem !== undefined) {
          return {
            ok: false,
            error: {
              name: "ImportError",
              message: `Cannot import "${specifier}": ${problem}`,
              ...toCode(node.source.start),
            },
          };
        }
        imports.push(js.slice(node.start, node.end));
        edits.push(blank(node));
        break;
      }
      case "ExportAllDeclaration":
        edits.push(blank(node));
        break;
      case "ExportNamedDeclaration":
        if (node.declaration) {
          edits.push({ start: node.start, end: node.declaration.start, text: "" });
        } else {
          for (const spec of node.specifiers) {
            if (nameOf(spec.exported) === "default" && !node.source) {
              hasDefault = true;
              tail.push(`${SLOTS}.d = ${nameOf(spec.local)};`);
            }
          }
          edits.push(blank(node));
        }
        break;
      case "ExportDefaultDeclaration": {
        hasDefault = true;
        const decl = node.declaration;
        const named =
          (decl.type === "FunctionDeclaration" || decl.type === "ClassDeclaration") && decl.id;
        if (named) {
          edits.push({ start: node.start, end: decl.start, text: "" });
          tail.push(`${SLOTS}.d = ${decl.id?.name};`);
        } else {
          edits.push({ start: node.start, end: decl.start, text: `${SLOTS}.d = ` });
          if (decl.type === "FunctionDeclaration" || decl.type === "ClassDeclaration") {
            edits.push({ start: decl.end, end: decl.end, text: ";" });
          }
        }
        break;
      }
      default:
        break;
    }
  }
  // With no default export, the result is the completion value, as in a REPL.
  if (!hasDefault) {
    edits.push(...completionEdits(program.body, COMPLETION, `${RESERVED_PREFIX}s`));
    tail.push(`${SLOTS}.l = ${COMPLETION};`);
  }

  const found = declarations(program, js);
  let carriedImports: string[] = [];
  let sessionCode = "";
  let refused: Prelude["refused"] = { carried: [], imports: [] };
  let warnings: string[] = [];
  if (scope) {
    const made = sessionPrelude(scope, found.declared, SLOTS, isAllowedImport);
    carriedImports = made.imports;
    sessionCode = made.prelude;
    refused = made.refused;
    warnings = made.warnings;
  }
  const prelude =
    guestImports([...carriedImports, ...imports]) + preludeEnd(namespaces) + sessionCode;
  const entries = packages ? usedPackages(program, carriedImports) : [];
  // The prelude and the epilogue wrap everything else.
  edits.sort(byPosition);
  edits.unshift({ start: 0, end: 0, text: prelude, opaque: true });
  edits.push({ start: js.length, end: js.length, text: `\n${tail.join("")}${EPILOGUE_END}` });
  const source = applyEdits(js, edits);
  const spans = editSpans(edits);

  return {
    ok: true,
    source,
    declared: found.declared,
    imports: found.imports,
    refused,
    warnings,
    packages: entries,
    // Tables of a few bytes per edit and line, and the mapping text: a cached module keeps only
    // these alive, and a position is looked up only when a run throws.
    toOriginal(line, column) {
      const offset = offsetOf(lineStarts(source), line - 1, column - 1);
      if (offset === undefined) return undefined;
      const jsOffset = mapBack(spans, offset);
      return jsOffset === undefined ? undefined : toCode(jsOffset);
    },
    bytes:
      // Strings at two bytes a character; the JavaScript sucrase made stays alive through the
      // declarations' sources, which are slices of it.
      2 * (source.length + (js === code ? 0 : js.length) + (mappings?.length ?? 0)) +
      spans.byteLength +
      jsLines.byteLength +
      found.declared.reduce((n, d) => n + 2 * d.name.length + 64, 0) +
      found.imports.length * 64 +
      1024,
  };
}

/** An original position in the TypeScript code from a position in the JavaScript sucrase made. */
function fromTs(mappings: string, line: number, column: number): SourcePosition {
  return originalPosition(mappings, line, column);
}

/** How the compiler treats imports. */
export interface CompileOptions {
  /**
   * Bare specifiers that name npm packages may be imported: the control plane resolves them
   * before the code runs. Code compiled where it runs (./compile-job.ts) imports built-ins only.
   */
  packages?: boolean;
  /** Tool namespaces: bindings of the code's scope, filled from the run's slots. */
  namespaces?: readonly string[];
}

/** Why an import declaration may not be compiled; undefined when it may. */
function importProblem(specifier: string, packages: boolean): string | undefined {
  if (specifier.startsWith("node:") || /^cloudflare:(sockets|workers)$/.test(specifier)) {
    return undefined;
  }
  if (packages && parseBare(specifier) !== undefined) return undefined;
  // Bare Node built-in names (`fs`, `fs/promises`); the runtime decides whether each exists.
  if (/^[a-z_]+(\/[a-z_]+)?$/.test(specifier)) return undefined;
  if (parseBare(specifier) !== undefined) {
    return "code compiled where it runs (over 64 KiB with its session's code) can import runtime built-ins only, not npm packages";
  }
  return packages
    ? "only runtime built-ins (node:*, cloudflare:sockets, cloudflare:workers) and npm packages can be imported"
    : "only runtime built-ins (node:*, cloudflare:sockets, cloudflare:workers) can be imported";
}

/** The packages the code names (imports, `import()` and `require` of literals) and its session carries. */
function usedPackages(program: Program, carriedImports: string[]): PackageEntry[] {
  const entries = packageEntries(program);
  if (carriedImports.length === 0) return entries;
  const seen = new Set(entries.map((e) => `${e.kind} ${e.specifier}`));
  for (const entry of packageEntries(parseModule(carriedImports.join("\n")))) {
    if (!seen.has(`${entry.kind} ${entry.specifier}`)) entries.push(entry);
  }
  return entries;
}

function nameOf(node: { type: string; name?: string; value?: unknown }): string {
  return node.type === "Identifier" ? String(node.name) : String(node.value);
}

function blank(node: Node): Edit {
  return { start: node.start, end: node.end, text: "" };
}

/**
 * The edits as they are applied, three numbers each: where in the text before, how much text it
 * adds (-1 less that for added text that stands for nothing in the code as sent) and how much it
 * removes.
 */
function editSpans(edits: Edit[]): Int32Array {
  const spans = new Int32Array(3 * edits.length);
  edits.forEach((edit, i) => {
    spans[3 * i] = edit.start;
    spans[3 * i + 1] = edit.opaque ? -edit.text.length - 1 : edit.text.length;
    spans[3 * i + 2] = edit.end - edit.start;
  });
  return spans;
}

/** Maps an offset in the edited text back to the text before the edits (`editSpans`). */
function mapBack(spans: Int32Array, offset: number): number | undefined {
  let delta = 0;
  for (let i = 0; i < spans.length; i += 3) {
    const start = spans[i] as number;
    const added = spans[i + 1] as number;
    const length = added < 0 ? -added - 1 : added;
    const genStart = start + delta;
    if (offset < genStart) break;
    // Inside added text: the position of the code it was added for, unless the text is code of
    // its own (carried declarations), which has no position in what the client sent.
    if (offset < genStart + length) return added < 0 ? undefined : start;
    delta += length - (spans[i + 2] as number);
  }
  const original = offset - delta;
  return original >= 0 ? original : undefined;
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

function positionOf(starts: ArrayLike<number>, offset: number): { line: number; column: number } {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] ?? 0) <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo, column: offset - (starts[lo] ?? 0) };
}

function offsetOf(starts: ArrayLike<number>, line: number, column: number): number | undefined {
  const start = starts[line];
  return start === undefined ? undefined : start + column;
}

/** A syntax error at `err.pos` in `text`, which `mappings` (if any) maps back to TypeScript. */
function syntaxError(err: unknown, text: string, mappings: string | undefined): CompileError {
  const message = err instanceof Error ? err.message.replace(/ \(\d+:\d+\)$/, "") : String(err);
  const pos = (err as { pos?: unknown }).pos;
  if (typeof pos !== "number") return { ok: false, error: { name: "SyntaxError", message } };
  const at = positionOf(lineStarts(text), pos);
  const { line, column } = mappings === undefined ? at : fromTs(mappings, at.line, at.column);
  return { ok: false, error: { name: "SyntaxError", message, line: line + 1, column: column + 1 } };
}
