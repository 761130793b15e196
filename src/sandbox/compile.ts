import type { Node, Program } from "acorn";
import { transform } from "sucrase";
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
import { decodeMappings, originalPosition } from "./source-map";

export type Language = "javascript" | "typescript";

/** A 1-based line and column in the code as the client sent it. */
export interface SourcePosition {
  line: number;
  column: number;
}

/** User code turned into the module the guest harness imports. */
export interface CompiledModule {
  ok: true;
  /** ES module whose default export runs the code once: `(slots, input) => Promise<void>`. */
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
}

/** Code that cannot run: a syntax error or a forbidden import, located in the code as sent. */
export interface CompileError {
  ok: false;
  error: { name: string; message: string } & Partial<SourcePosition>;
}

/** Name of the per-run object through which the wrapped module hands back its results. */
export const SLOTS = RESERVED_PREFIX;
/** The completion value of the top-level statements so far (src/sandbox/completion.ts). */
const COMPLETION = `${RESERVED_PREFIX}v`;

// Arrow functions, so the code cannot reach the slots object as `arguments[0]` (nor the wrapper as
// `arguments.callee`) and `this` is the module's own, undefined.
const PRELUDE_END = `export default (${SLOTS}, input, ${TICK}, ${CHECK}) => (async () => { let ${COMPLETION};\n`;
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
): CompiledModule | CompileError {
  let js = code;
  let mapTs: ((line: number, column: number) => { line: number; column: number }) | undefined;
  if (language === "typescript") {
    try {
      const out = transform(code, {
        transforms: ["typescript"],
        disableESTransforms: true,
        sourceMapOptions: { compiledFilename: "user.js" },
        filePath: "user.ts",
      });
      js = out.code;
      const lines = decodeMappings(out.sourceMap?.mappings ?? "");
      mapTs = (line, column) => originalPosition(lines, line, column);
    } catch (err) {
      return syntaxError(err, code, (line, column) => ({ line, column }));
    }
  }
  const jsLines = lineStarts(js);
  const toCode = (offset: number): SourcePosition => {
    const { line, column } = positionOf(jsLines, offset);
    const original = mapTs ? mapTs(line, column) : { line, column };
    return { line: original.line + 1, column: original.column + 1 };
  };

  let program: Program;
  try {
    program = parseModule(js, { preserveParens: true });
  } catch (err) {
    return syntaxError(err, js, (line, column) => (mapTs ? mapTs(line, column) : { line, column }));
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
        if (!isAllowedImport(specifier)) {
          return {
            ok: false,
            error: {
              name: "ImportError",
              message: `Cannot import "${specifier}": only runtime built-ins (node:*, cloudflare:sockets, cloudflare:workers) can be imported`,
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
    [...carriedImports, ...imports].map((text) => `${text}\n`).join("") + PRELUDE_END + sessionCode;
  // The prelude and the epilogue wrap everything else.
  edits.sort(byPosition);
  edits.unshift({ start: 0, end: 0, text: prelude, opaque: true });
  edits.push({ start: js.length, end: js.length, text: `\n${tail.join("")}${EPILOGUE_END}` });
  const source = applyEdits(js, edits);
  const sourceLines = lineStarts(source);

  return {
    ok: true,
    source,
    declared: found.declared,
    imports: found.imports,
    refused,
    warnings,
    toOriginal(line, column) {
      const offset = offsetOf(sourceLines, line - 1, column - 1);
      if (offset === undefined) return undefined;
      const jsOffset = mapBack(edits, offset);
      return jsOffset === undefined ? undefined : toCode(jsOffset);
    },
  };
}

function isAllowedImport(specifier: string): boolean {
  if (specifier.startsWith("node:") || /^cloudflare:(sockets|workers)$/.test(specifier))
    return true;
  // Bare Node built-in names (`fs`, `fs/promises`); the runtime decides whether each exists.
  return /^[a-z_]+(\/[a-z_]+)?$/.test(specifier);
}

function nameOf(node: { type: string; name?: string; value?: unknown }): string {
  return node.type === "Identifier" ? String(node.name) : String(node.value);
}

function blank(node: Node): Edit {
  return { start: node.start, end: node.end, text: "" };
}

/** Maps an offset in the edited text back to the text before the edits. */
function mapBack(edits: Edit[], offset: number): number | undefined {
  let delta = 0;
  for (const edit of edits) {
    const genStart = edit.start + delta;
    if (offset < genStart) break;
    // Inside added text: the position of the code it was added for, unless the text is code of
    // its own (carried declarations), which has no position in what the client sent.
    if (offset < genStart + edit.text.length) return edit.opaque ? undefined : edit.start;
    delta += edit.text.length - (edit.end - edit.start);
  }
  const original = offset - delta;
  return original >= 0 ? original : undefined;
}

function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  return starts;
}

function positionOf(starts: number[], offset: number): { line: number; column: number } {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((starts[mid] ?? 0) <= offset) lo = mid;
    else hi = mid - 1;
  }
  return { line: lo, column: offset - (starts[lo] ?? 0) };
}

function offsetOf(starts: number[], line: number, column: number): number | undefined {
  const start = starts[line];
  return start === undefined ? undefined : start + column;
}

function syntaxError(
  err: unknown,
  text: string,
  map: (line: number, column: number) => { line: number; column: number },
): CompileError {
  const message = err instanceof Error ? err.message.replace(/ \(\d+:\d+\)$/, "") : String(err);
  const pos = (err as { pos?: unknown }).pos;
  if (typeof pos !== "number") return { ok: false, error: { name: "SyntaxError", message } };
  const at = positionOf(lineStarts(text), pos);
  const { line, column } = map(at.line, at.column);
  return { ok: false, error: { name: "SyntaxError", message, line: line + 1, column: column + 1 } };
}
