import type { Envelope, Language } from "../types";
import type { Declared, SessionScope } from "./carry";
import { type CompiledModule, compile } from "./compile";

/**
 * Code that the runtime running a job compiles itself: code too large to compile on the control
 * plane, where every tenant waits while one compiles (docs/isolates.md).
 */
export interface CompileRequest {
  code: string;
  language: Language;
  scope?: SessionScope;
  /** Tool namespaces the code reads as bindings (./compile.ts). */
  namespaces?: string[];
}

/** What the executor needs of a module compiled where it ran; it comes back in the envelope. */
export type CompiledInfo = Pick<CompiledModule, "declared" | "imports" | "refused" | "warnings">;

/** How much code a compilation reads: the code, and the session's carried sources and imports. */
export function compileSize(code: string, scope: SessionScope | undefined): number {
  let size = code.length;
  // The scope comes from storage and is checked when it is compiled: nothing of it is assumed.
  for (const c of scope?.carried ?? []) size += c?.how === "source" ? String(c.source).length : 0;
  for (const i of scope?.imports ?? []) size += String(i?.text).length;
  return size;
}

/** Compile time to expect, in ms of one core of the 2-core reference machine (bench/compile.mjs). */
export function compileCostMs(request: CompileRequest | undefined): number {
  return request ? compileSize(request.code, request.scope) / CHARS_PER_MS : 0;
}

/**
 * Runner memory, in MB, that compiling `request` takes: the compiler's syntax tree and output and
 * the engine's heap headroom. 1 MiB of the worst shapes (declarations) grew a runner by 175 MB.
 */
export function compileMemoryMb(request: CompileRequest | undefined): number {
  return request ? Math.ceil((compileSize(request.code, request.scope) / 2 ** 20) * 160) : 0;
}

/** About 2 µs a character: the slowest shapes of 1 MiB took 0.2 to 0.55 s on a loaded machine. */
const CHARS_PER_MS = 2000;

/**
 * Compiles the code, runs the module with `run` (which answers the harness's envelope), and
 * answers the envelope with its error located in the code as sent and, for a session run, the
 * compiler's findings in `compiled`. Code that does not compile answers an error envelope
 * without running.
 */
export async function compileThenRun(
  request: CompileRequest,
  run: (source: string) => Promise<string>,
): Promise<string> {
  const made = compile(request.code, request.language, request.scope, {
    ...(request.namespaces ? { namespaces: request.namespaces } : {}),
  });
  if (!made.ok) {
    return JSON.stringify({ status: "error", error: made.error, logs: [], dropped: 0 });
  }
  const envelope = JSON.parse(await run(made.source)) as Envelope;
  const error = envelope.error;
  if (error && typeof error.line === "number" && typeof error.column === "number") {
    const at = made.toOriginal(error.line, error.column);
    error.line = at?.line;
    error.column = at?.column;
  }
  // Only a session run needs them (to carry its bindings), and one binding a line of code
  // makes them as large as the code.
  if (request.scope) {
    const { declared, imports, refused, warnings } = made;
    envelope.compiled = { declared, imports, refused, warnings } satisfies CompiledInfo;
  }
  return JSON.stringify(envelope);
}

/**
 * The compiler's findings as the runtime that compiled the code reported them, in the shapes the
 * executor relies on; anything else is left out (a binding it names is then not carried).
 */
export function readCompiledInfo(value: unknown): CompiledInfo {
  const declared = list(field(value, "declared")).flatMap((d) => {
    const [name, kind, source] = [field(d, "name"), field(d, "kind"), field(d, "source")];
    if (typeof name !== "string" || !isKind(kind)) return [];
    if (source !== undefined && typeof source !== "string") return [];
    return [source === undefined ? { name, kind } : { name, kind, source }];
  });
  const imports = list(field(value, "imports")).flatMap((i) => {
    const [text, locals] = [field(i, "text"), list(field(i, "locals"))];
    if (typeof text !== "string" || !locals.every((l) => typeof l === "string")) return [];
    return [{ text, locals: locals.map(String) }];
  });
  const refused = field(value, "refused");
  const indexes = (items: unknown) => list(items).filter((n): n is number => Number.isInteger(n));
  return {
    declared,
    imports,
    refused: {
      carried: indexes(field(refused, "carried")),
      imports: indexes(field(refused, "imports")),
    },
    warnings: list(field(value, "warnings")).filter((w): w is string => typeof w === "string"),
  };
}

const KINDS = new Set(["const", "let", "var", "function", "class", "import"]);

function isKind(kind: unknown): kind is Declared["kind"] {
  return typeof kind === "string" && KINDS.has(kind);
}

function field(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null ? Reflect.get(value, key) : undefined;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}
