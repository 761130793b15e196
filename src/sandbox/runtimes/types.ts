// What the executor needs of a language: a guest runtime. JavaScript and TypeScript are one
// (./javascript); Python will be another (Pyodide inside the isolate, its compile a check, its
// carry pickling). The executor picks the runtime by the request's `language`; wherever the
// isolate is (here, or a runner process), the job's program names its runtime.
import type { PackageEntry, PackageModule } from "../../packages/build";
import type { Lock } from "../../packages/lock";
import type { PackageOutcome } from "../../packages/outcome";
import type { UsedPackageBody } from "../../schemas/packages";
import type { LogEntry } from "../logs";
import type { SessionVariables } from "./javascript/carry";
import type { JavaScriptProgram } from "./javascript/program";
import type { PythonProgram } from "./python/program";

export type { SessionVariables };

/** The languages a request may name. */
export type Language = "javascript" | "typescript" | "python";

/** A 1-based line and column in the code as the client sent it. */
export interface SourcePosition {
  line: number;
  column: number;
}

/** Code that cannot run: a syntax error or a forbidden import, located in the code as sent. */
export interface CompileError {
  ok: false;
  error: { name: string; message: string } & Partial<SourcePosition>;
}

/**
 * What a runtime hands to the isolate that runs the code: plain data (it travels to a runner as
 * JSON), naming its runtime.
 */
export type GuestProgram = JavaScriptProgram | PythonProgram;

/** What the harness answers (every runtime's harness builds the same envelope). */
export interface Envelope {
  status: "ok" | "error" | "timeout";
  reason?: "waiting" | "computing" | "cancelled";
  result?: unknown;
  error?: { name?: unknown; message?: unknown; line?: unknown; column?: unknown; stack?: unknown };
  logs: unknown[];
  dropped: number;
  /** In a session: what the run left of each binding, as the runtime's harness reports it. */
  vars?: Record<string, unknown>;
  /** In a session: the workspace files the run changed and the paths it removed. */
  files?: { changed: { path: string; data: string }[]; deleted: string[] };
  /** What the run left that its harness could not carry (Python), in words. */
  warnings?: unknown;
  /** Anything else the runtime reports about the run (the JavaScript compiler's findings). */
  compiled?: unknown;
  /**
   * The harness asks for its reused isolate to be ended after this answer (Python: the run grew
   * the interpreter's memory past what a kept interpreter may hold). Always last in the text.
   */
  discard?: true;
}

/** What a request asks a runtime to prepare. */
export interface PrepareRequest {
  code: string;
  language: Language;
  /**
   * The run is in a session: the session's id (Python: whose interpreter the run may reuse) and
   * its carried variables' scope (JavaScript: what to re-declare).
   */
  session?: { id: string; scope: SessionVariables["scope"] };
  /**
   * Resolves the npm packages the code names (src/packages), with the request's pins, the
   * tenant's policy and the session's kept versions; without it, code may import no package.
   */
  packages?: (entries: PackageEntry[]) => Promise<PackageOutcome>;
  /** Tool namespaces the code reads as bindings of its own scope. */
  namespaces?: string[];
}

/** Code a runtime made ready to run, and what it knows for reading the run's answer. */
export interface Prepared<Program extends GuestProgram = GuestProgram> {
  ok: true;
  program: Program;
  /**
   * The program's part of the isolate key: a content hash, with whatever else makes two
   * programs' isolates differ (JavaScript: session or not, the runtime's timers or Node.js's).
   */
  isolateKey: string;
  /** A run outside a session needs an empty workspace made first (its code may use files). */
  workspace: boolean;
  /** The npm packages the program was linked to: the set resolved, and what the result lists. */
  packages?: { lock: Lock; used: UsedPackageBody[] };
  /** What of a session's variables the harness restores before the run. */
  carried(variables: SessionVariables): Record<string, string>;
  /** A position the harness reported, in the code as sent; undefined when it is not in it. */
  locate(line: number, column: number): SourcePosition | undefined;
  /**
   * What the run's answer means beyond its result: warnings for its logs and, in a session, the
   * variables the next run starts with (undefined: the run left none to carry).
   */
  settle(
    envelope: Envelope | undefined,
    before: SessionVariables | undefined,
  ): { warnings: LogEntry[]; variables?: SessionVariables };
}

/** What an isolate for a program is made of, besides what every guest isolate gets. */
export interface IsolateCode {
  mainModule: string;
  /**
   * Module text by name; `{ js }` for a module whose name does not end in `.js`; other kinds
   * (`text`, `data`, `json`, `wasm`) as the Worker Loader takes them.
   */
  modules: Record<
    string,
    | string
    | { js: string }
    | { text: string }
    | { data: ArrayBuffer }
    | { json: unknown }
    | { wasm: ArrayBuffer }
    | PackageModule
  >;
  compatibilityFlags: string[];
}

/** A language Cordon runs. */
export interface GuestRuntime<Program extends GuestProgram = GuestProgram> {
  readonly name: Program["runtime"];
  /**
   * Memory the process running the isolate takes for this runtime besides what the code uses, in
   * MB: once, for the first run that starts the runtime there (`start`), and for every run
   * (`run`). A runner pool allows it on top of the tenant's memory limit.
   */
  readonly memoryMb?: { start: number; run: number };
  /** On the control plane: the code made ready to run, or why it cannot run. */
  prepare(request: PrepareRequest): Promise<Prepared<Program> | CompileError>;
  /** Where the isolate is: its code, for a one-shot isolate or a reused one (sealed). */
  isolate(program: Program, reused: boolean): IsolateCode;
  /** Whether the program may run in a reused isolate; false: a one-shot isolate for every run. */
  reusable(program: Program): boolean;
  /**
   * The runtime's reused isolates are heavy (Python: an interpreter of 100+ MB): a process keeps
   * at most this many, ending the least recently used one when it needs another, and a runner
   * pool sends a run back to the process that has its isolate. Absent: a reused isolate is
   * light, and the process's cap on warm isolates applies.
   */
  readonly heavyPerProcess?: number;
  /** How long, in ms, a heavy reused isolate is kept from being ended for another's sake. */
  readonly heavyKeepMs?: number;
  /**
   * Work the isolate's side does before the run (compiling large code, starting an interpreter),
   * in ms of one core of the reference machine: 0 for none. `started`: the process has run this
   * runtime before. A runner pool gives such runs more time and fewer turns.
   */
  setupCostMs(program: Program, started?: boolean): number;
  /**
   * Runner memory, in MB, that work takes besides the code's own (absent: none). A runner pool
   * adds it to what the run may grow its runner by, so the runtime's work is not the code's.
   */
  setupMemoryMb?(program: Program): number;
  /**
   * What the harness gets with every run besides its input, limits, capabilities and session
   * (Python: the code, which a session's reused interpreter gets turn by turn). Absent: nothing;
   * the isolate has the program in its modules.
   */
  perRun?(program: Program): string;
  /**
   * Where the isolate is: runs the program with `load` (which answers the harness's envelope as
   * JSON text) after any work left to this side, and answers the envelope.
   */
  run(program: Program, load: (program: Program) => Promise<string>): Promise<string>;
}
