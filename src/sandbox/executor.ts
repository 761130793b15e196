import { sha256Hex } from "../bytes";
import { Lru } from "../cache";
import { LIMITS } from "../config";
import {
  closeAudit,
  type EgressAttempt,
  type ExecutionEgress,
  openAudit,
  trackIsolate,
} from "../egress/audit";
import type { EgressPolicy } from "../egress/policy";
import { redactLogEntry, redactOutput } from "../redact/output";
import type { ExecutionResultBody as ExecutionResult } from "../schemas/execution";
import { type Backend, CANCELLED, type Envelope, type Outcome } from "./backend";
import { nextVariables, type SessionVariables, withoutRefused } from "./carry";
import { type CompiledModule, type CompileError, compile, type Language } from "./compile";
import { type CompileRequest, compileSize, readCompiledInfo } from "./compile-job";
import type { GuestSession, HarnessLimits } from "./guest";
import { type LogEntry, LogSink } from "./logs";

export type { ExecutionResult };

/** What the executor needs to run one piece of code. */
export interface ExecutionRequest {
  code: string;
  language: Language;
  input?: unknown;
  timeoutMs: number;
}

export type ExecutionStatus = ExecutionResult["status"];

/** Where and for whom an execution runs. */
export interface Runtime {
  backend: Backend;
  tenant: string;
  /**
   * Told of executions that had to be stopped or capped; `takesRuntimeDown` when this execution
   * took its runner down (not when it only shared a runner another execution took down).
   */
  onIncident?: (reason: string, takesRuntimeDown: boolean) => void;
  /** Memory one execution may use, in MB (the tenant's `limits.memoryMb`). */
  memoryMb?: number;
  /** The execution's effective egress policy, secrets and caps; without it, nothing leaves. */
  egress?: ExecutionEgress;
}

/** Workspace changes a run made: files written (base64) and paths removed. */
export interface WorkspaceChanges {
  changed: GuestSession["files"];
  deleted: string[];
}

/** A session's state going into a run; `after` is filled in when the run reports its state. */
export interface SessionRun {
  variables: SessionVariables;
  files: GuestSession["files"];
  /** The session's own egress allow list: one more layer of the effective egress policy. */
  egress?: EgressPolicy;
  after?: { variables: SessionVariables; files: WorkspaceChanges };
}

/**
 * Code that may reach node:fs (the word `fs`, as in `node:fs` or `fs/promises`, a dynamic import
 * or getBuiltinModule): only its one-shot runs get an empty /tmp/workspace made (docs/guest.md).
 */
const MAY_USE_FS = /\bfs\b|getBuiltinModule|\bimport\s*\(/;

/**
 * Code that may reach a timer global: by name, through the global object, or inside a module it
 * imports or requires (which may call `.unref()` on what `setTimeout` answers). Only one-shot code
 * without any of these runs in an isolate with the runtime's web timers, spared the cost of
 * installing Node.js's (docs/guest.md).
 */
const MAY_USE_TIMERS =
  /\b(?:set|clear)(?:Timeout|Interval|Immediate)\b|\b(?:timers|import|require|getBuiltinModule|process|globalThis|global|self)\b|node:/;

interface CompiledRun extends CompiledModule {
  hash: string;
  mayUseFs: boolean;
  mayUseTimers: boolean;
  /** The code, to be compiled where it runs (`source` is then empty). */
  compile?: CompileRequest;
}

const MiB = 1024 * 1024;

/**
 * Code that, with its session's carried code, is larger than this is compiled by the runtime
 * that runs it (a runner process, self-hosted), not here: compiling takes up to ~2 µs a
 * character, and every tenant's requests wait while the control plane compiles (docs/isolates.md).
 */
const LOCAL_COMPILE_CHARS = 64 * 1024;

/**
 * Compiled modules by language, code and session scope, with the hash of their source and
 * whether the code may reach node:fs or a timer global. Bounded by what the entries keep alive
 * (key and module, strings counted at two bytes a character).
 */
const compiled = new Lru<string, CompiledRun | CompileError>(512, {
  maxBytes: 32 * MiB,
  maxEntryBytes: 4 * MiB,
  bytes: (key, module) => 2 * key.length + (module.ok ? module.bytes : 1024),
});

/** Where a module compiled where it ran stands until its envelope says what the compiler found. */
const COMPILED_THERE = {
  ok: true,
  source: "",
  declared: [],
  imports: [],
  refused: { carried: [], imports: [] },
  warnings: [],
  bytes: 0,
  // The runtime that compiled it located the run's error in the code as sent already.
  toOriginal: (line, column) => ({ line, column }),
} satisfies CompiledModule;

/** What a caller may watch or control of one execution. */
export interface ExecuteOptions {
  /** Each console entry as it arrives (scrubbed of secrets). */
  onLog?: (entry: LogEntry) => void;
  /** Each outbound attempt as the gateway decides it. */
  onEgress?: (attempt: EgressAttempt) => void;
  /** Aborting it cancels the run (a streaming client went away). */
  signal?: AbortSignal;
  /** In a session: the carried variables and workspace go in, and `session.after` comes back. */
  session?: SessionRun;
}

/** Runs code in a guest isolate and returns its result. Never throws for anything the code does. */
export async function execute(
  runtime: Runtime,
  request: ExecutionRequest,
  executionId: string,
  { onLog, onEgress, signal, session }: ExecuteOptions = {},
): Promise<ExecutionResult> {
  const started = Date.now();
  const secretValues = runtime.egress?.secrets.map((s) => s.value) ?? [];
  const finish = (
    status: ExecutionStatus,
    fields: Pick<ExecutionResult, "result" | "error" | "logs">,
  ): ExecutionResult => {
    const egress = closeAudit(executionId);
    // Nothing the code produced leaves the service with a secret value or a credential in it.
    const { fields: clean, redactions } = redactOutput(fields, secretValues);
    return {
      executionId,
      status,
      ...clean,
      egress,
      redactions,
      usage: {
        wallMs: Date.now() - started,
        subrequests: egress.filter((a) => a.decision === "allowed").length,
      },
    };
  };

  const scope = session?.variables.scope;
  const key = `${request.language}\u0000${request.code}\u0000${scope ? JSON.stringify(scope) : ""}`;
  let module: CompiledRun | CompileError | undefined;
  if (compileSize(request.code, scope) > LOCAL_COMPILE_CHARS) {
    module = {
      ...COMPILED_THERE,
      // Compiling is deterministic: the same code and scope make the same module.
      hash: `c${await sha256Hex(key)}`,
      mayUseFs: MAY_USE_FS.test(request.code),
      mayUseTimers: MAY_USE_TIMERS.test(request.code),
      compile: { code: request.code, language: request.language, ...(scope ? { scope } : {}) },
    };
  } else {
    module = compiled.get(key);
    if (!module) {
      const made = compile(request.code, request.language, scope);
      module = made.ok
        ? {
            ...made,
            hash: await sha256Hex(made.source),
            mayUseFs: MAY_USE_FS.test(request.code),
            mayUseTimers: MAY_USE_TIMERS.test(request.code),
          }
        : made;
      compiled.set(key, module);
    }
  }
  if (!module.ok) return finish("error", { error: module.error, logs: [] });

  const sink = new LogSink(
    LIMITS.logLines,
    LIMITS.logBytes,
    onLog && ((entry) => onLog(redactLogEntry(entry, secretValues))),
  );
  const limits: HarnessLimits = {
    resultBytes: LIMITS.resultBytes,
    logLines: LIMITS.logLines,
    logBytes: LIMITS.logBytes,
    timeoutMs: request.timeoutMs,
    ...(runtime.memoryMb ? { memoryMb: runtime.memoryMb } : {}),
    ...(signal ? { cancellable: true } : {}),
    ...(!session && module.mayUseFs ? { workspace: true } : {}),
  };
  const webTimers = !session && !module.mayUseTimers;
  // process.env: each secret's placeholder, never its value.
  const env = Object.fromEntries(
    (runtime.egress?.secrets ?? []).map((s) => [s.name, s.placeholder]),
  );
  const job = {
    // Tenants never share an isolate, even for the same code; nor do one-shot and session runs
    // (a session isolate loads node:fs before any of its code runs: session.guest.js), nor
    // isolates with web and with Node.js timers, nor isolates made with different secrets (an
    // isolate's process.env is fixed when it is made).
    hash: `${runtime.tenant}-${session ? "s" : webTimers ? "w" : "o"}-${module.hash}${await envKey(env)}`,
    source: module.source,
    ...(module.compile ? { compile: module.compile } : {}),
    input: request.input,
    limits,
    session: session && { values: session.variables.values, files: session.files },
    env,
    ...(webTimers ? { webTimers } : {}),
  };
  const cancel = () => sink.cancel();
  const egressToken = openAudit(executionId, runtime.egress, onEgress);
  let outcome: Outcome;
  let ended: ReturnType<typeof outcomeResult>;
  try {
    trackIsolate(executionId, job.hash);
    signal?.addEventListener("abort", cancel);
    outcome = await runtime.backend.run(job, { executionId, egressToken }, sink, signal);
    sink.ended();
    ended = outcomeResult(outcome, sink, module, request.timeoutMs, finish);
  } finally {
    signal?.removeEventListener("abort", cancel);
    // `finish` has closed the audit of a run that ended; one that threw must not leave its
    // context, secrets included, in the gateway's map.
    closeAudit(executionId);
  }
  const { result, envelope } = ended;
  const found = module.compile ? readCompiledInfo(envelope?.compiled) : module;
  if (found.warnings.length > 0) {
    result.logs.push({
      level: "warn",
      message: `dropped from the session (they cannot be declared safely): ${found.warnings.join(", ")}`,
    });
  }
  if (session && envelope?.vars && envelope.files) {
    const variables = nextVariables(
      withoutRefused(session.variables, found.refused),
      found.declared,
      found.imports,
      envelope.vars,
    );
    session.after = { variables, files: envelope.files };
    if (variables.warnings.length > 0) {
      result.logs.push({
        level: "warn",
        message: `not carried to the next execution: ${variables.warnings.join(", ")}`,
      });
    }
  }
  const incident = incidentOf(result, outcome);
  if (incident) runtime.onIncident?.(incident, outcome.kind === "killed");
  return result;
}

/** Why an execution counts as an incident (stopped, killed or capped), if it does. */
function incidentOf(result: ExecutionResult, outcome: Outcome): string | undefined {
  if (result.error?.name === "Cancelled") return undefined;
  // Only the execution that took its runner down is charged; one that shared the runner is not.
  if (outcome.kind === "killed") {
    return outcome.culprit ? `killed: ${outcome.culprit}: ${outcome.reason}` : undefined;
  }
  if (outcome.kind === "envelope" && outcome.envelope.reason === "computing") {
    return "timeout: the code computed past its deadline without yielding";
  }
  if (result.status === "timeout") return "timeout: the code was still waiting at its deadline";
  if (result.error?.name === "ResultTooLarge") return "cap: the result was over its size cap";
  if (result.error?.name === "RangeError" && /call stack/.test(result.error.message)) {
    return "cap: the code exhausted its call stack";
  }
  if (result.error?.name === "QuotaExceededError") return `cap: ${result.error.message}`;
  if (result.logs.at(-1)?.truncated) return `cap: ${result.logs.at(-1)?.message}`;
  const capped = result.egress.find(
    (a) => a.decision === "denied" && /^subrequest cap of \d+/.test(a.reason),
  );
  if (capped) return `cap: ${capped.reason}`;
  return undefined;
}

function outcomeResult(
  outcome: Outcome,
  sink: LogSink,
  module: CompiledModule,
  timeoutMs: number,
  finish: (
    status: ExecutionStatus,
    fields: Pick<ExecutionResult, "result" | "error" | "logs">,
  ) => ExecutionResult,
): { result: ExecutionResult; envelope?: Envelope } {
  switch (outcome.kind) {
    case "timeout":
      return { result: finish("timeout", { error: timeoutError(timeoutMs), logs: sink.close() }) };
    case "killed":
      return {
        result: finish("killed", {
          error: killedError(outcome),
          logs: sink.close(),
        }),
      };
    case "failed":
      return {
        result: finish("error", {
          error: { name: outcome.name, message: outcome.message },
          logs: sink.close(),
        }),
      };
    case "envelope": {
      const { envelope } = outcome;
      const logs = sink.finish(envelope.logs, envelope.dropped);
      if (envelope.status === "ok") {
        return { result: finish("ok", { result: envelope.result, logs }), envelope };
      }
      if (envelope.reason === "cancelled") {
        return { result: finish("killed", { error: killedError(CANCELLED), logs }) };
      }
      if (envelope.status === "timeout") {
        return { result: finish("timeout", { error: timeoutError(timeoutMs), logs }) };
      }
      return {
        result: finish("error", { error: locateError(envelope.error, module), logs }),
        envelope,
      };
    }
  }
}

function killedError(outcome: { reason: string }) {
  return outcome.reason.startsWith("cancelled")
    ? { name: "Cancelled", message: outcome.reason }
    : { name: "KilledError", message: outcome.reason };
}

function timeoutError(timeoutMs: number) {
  return {
    name: "TimeoutError",
    message: `the execution did not finish within its ${timeoutMs} ms timeout (or awaited a promise that can never settle)`,
  };
}

function locateError(error: Envelope["error"], module: CompiledModule): ExecutionResult["error"] {
  const name = typeof error?.name === "string" ? error.name : "Error";
  const message = typeof error?.message === "string" ? error.message : "";
  if (typeof error?.line !== "number" || typeof error.column !== "number") return { name, message };
  const at = module.toOriginal(error.line, error.column);
  return at ? { name, message, line: at.line, column: at.column } : { name, message };
}

/** Hashes of process.env contents by their JSON text: a tenant's secrets rarely change. */
const envKeys = new Lru<string, string>(256);

/** What the isolate key adds for a process.env: nothing when it is empty. */
async function envKey(env: Record<string, string>): Promise<string> {
  const text = JSON.stringify(env);
  if (text === "{}") return "";
  let key = envKeys.get(text);
  if (key === undefined) {
    key = `-e${(await sha256Hex(text)).slice(0, 16)}`;
    envKeys.set(text, key);
  }
  return key;
}
