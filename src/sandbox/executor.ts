import { closeAudit, openAudit } from "../egress/audit";
import { LIMITS } from "../limits";
import type { ExecutionResultBody as ExecutionResult } from "../schemas/execution";
import type { Backend, Outcome } from "./backend";
import { type CompiledModule, type CompileError, compile, type Language } from "./compile";
import type { HarnessLimits } from "./guest";
import { Lru } from "./isolates";
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
  /** Told of executions that had to be stopped or capped; `takesRuntimeDown` when a runner was lost. */
  onIncident?: (reason: string, takesRuntimeDown: boolean) => void;
}

interface Envelope {
  status: "ok" | "error" | "timeout";
  reason?: "waiting" | "computing";
  result?: unknown;
  error?: { name?: unknown; message?: unknown; line?: unknown; column?: unknown };
  logs: unknown[];
  dropped: number;
}

const compiled = new Lru<string, CompiledModule | CompileError>(512);
const encoder = new TextEncoder();

/** Runs code in a guest isolate and returns its result. Never throws for anything the code does. */
export async function execute(
  runtime: Runtime,
  request: ExecutionRequest,
  executionId: string,
  onLog?: (entry: LogEntry) => void,
): Promise<ExecutionResult> {
  const started = Date.now();
  const finish = (
    status: ExecutionStatus,
    fields: Pick<ExecutionResult, "result" | "error" | "logs">,
  ): ExecutionResult => {
    const egress = closeAudit(executionId);
    return {
      executionId,
      status,
      ...fields,
      egress,
      redactions: [],
      usage: {
        wallMs: Date.now() - started,
        subrequests: egress.filter((a) => a.decision === "allowed").length,
      },
    };
  };

  const key = `${request.language}\u0000${request.code}`;
  let module = compiled.get(key);
  if (!module) {
    module = compile(request.code, request.language);
    compiled.set(key, module);
  }
  if (!module.ok) return finish("error", { error: module.error, logs: [] });

  const egressToken = openAudit(executionId);
  const sink = new LogSink(LIMITS.logLines, LIMITS.logBytes, onLog);
  const limits: HarnessLimits = {
    resultBytes: LIMITS.resultBytes,
    logLines: LIMITS.logLines,
    logBytes: LIMITS.logBytes,
    timeoutMs: request.timeoutMs,
  };
  const job = {
    hash: await sha256(`${runtime.tenant}\u0000${module.source}`),
    source: module.source,
    input: request.input,
    limits,
  };
  const outcome = await runtime.backend.run(job, { executionId, egressToken }, sink);
  const result = outcomeResult(outcome, sink, module, request.timeoutMs, finish);
  const incident = incidentOf(result, outcome);
  if (incident) runtime.onIncident?.(incident, outcome.kind === "killed");
  return result;
}

/** Why an execution counts as an incident (stopped, killed or capped), if it does. */
function incidentOf(result: ExecutionResult, outcome: Outcome): string | undefined {
  if (outcome.kind === "killed") return `killed: ${outcome.reason}`;
  if (outcome.kind === "envelope" && /"reason":"computing"/.test(outcome.json)) {
    return "timeout: the code computed past its deadline without yielding";
  }
  if (result.status === "timeout") return "timeout: the code was still waiting at its deadline";
  if (result.error?.name === "ResultTooLarge") return "cap: the result was over its size cap";
  if (result.error?.name === "RangeError" && /call stack/.test(result.error.message)) {
    return "cap: the code exhausted its call stack";
  }
  if (result.error?.name === "QuotaExceededError") return `cap: ${result.error.message}`;
  if (result.logs.at(-1)?.truncated) return `cap: ${result.logs.at(-1)?.message}`;
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
): ExecutionResult {
  switch (outcome.kind) {
    case "timeout":
      return finish("timeout", { error: timeoutError(timeoutMs), logs: sink.close() });
    case "killed":
      return finish("killed", {
        error: { name: "KilledError", message: outcome.reason },
        logs: sink.close(),
      });
    case "failed":
      return finish("error", {
        error: { name: outcome.name, message: outcome.message },
        logs: sink.close(),
      });
    case "envelope": {
      const envelope = JSON.parse(outcome.json) as Envelope;
      const logs = sink.finish(envelope.logs, envelope.dropped);
      if (envelope.status === "ok") return finish("ok", { result: envelope.result, logs });
      if (envelope.status === "timeout") {
        return finish("timeout", { error: timeoutError(timeoutMs), logs });
      }
      return finish("error", { error: locateError(envelope.error, module), logs });
    }
  }
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

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", encoder.encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
