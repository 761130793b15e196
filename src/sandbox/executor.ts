import { sha256Hex } from "../bytes";
import { Lru } from "../cache";
import { LIMITS } from "../config";
import { type EgressAttempt, type ExecutionEgress, InFlight, trackIsolate } from "../egress/audit";
import type { EgressPolicy } from "../egress/policy";
import type { Lock, PackagePolicy, Packages } from "../packages";
import { mergeLocks, resolvePackages } from "../packages/service";
import { redactLogEntry, redactOutput } from "../redact/output";
import type { ExecutionResultBody as ExecutionResult } from "../schemas/execution";
import type { ToolUseBody } from "../schemas/tools";
import { type Backend, CANCELLED, type Outcome } from "./backends/backend";
import { Execution, type ToolDispatch } from "./capabilities";
import type { GuestJob, GuestSession, HarnessLimits } from "./guest";
import { type LogEntry, LogSink } from "./logs";
import { runtimeFor } from "./runtimes";
import type { Envelope, Language, Prepared, SessionVariables } from "./runtimes/types";

export type { ExecutionResult };

/** What the executor needs to run one piece of code. */
export interface ExecutionRequest {
  code: string;
  language: Language;
  input?: unknown;
  timeoutMs: number;
  /** npm package pins: name → semver range, version or dist-tag. */
  packages?: Record<string, string>;
}

export type ExecutionStatus = ExecutionResult["status"];

/** Where and for whom an execution runs. */
export interface ExecutionHost {
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
  /** The package machinery and the tenant's package policy; without it, code imports no package. */
  packages?: { resolver: Packages; policy: PackagePolicy };
}

/** Workspace changes a run made: files written (base64) and paths removed. */
export interface WorkspaceChanges {
  changed: GuestSession["files"];
  deleted: string[];
}

/** A session's state going into a run; `after` is filled in when the run reports its state. */
export interface SessionRun {
  /** The session's id (a Python run may reuse the session's interpreter). */
  id: string;
  variables: SessionVariables;
  files: GuestSession["files"];
  /** The session's own egress allow list: one more layer of the effective egress policy. */
  egress?: EgressPolicy;
  /** The npm packages the session imported so far: they keep their versions. */
  packages?: Lock;
  after?: { variables: SessionVariables; files: WorkspaceChanges; packages?: Lock };
}

/** An execution's tools (src/tools/calls.ts): the namespaces its code gets, and their calls. */
export interface ExecutionTools extends ToolDispatch {
  readonly namespaces: string[];
  /** Calls refused past the cap. */
  readonly refused: number;
  /** The execution's egress, through which MCP servers are called. */
  attach(egress: InFlight): void;
  /** Ends the calls (one still waiting is refused) and lists them. */
  close(): ToolUseBody[];
}

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
  /** The request's tools: each namespace a binding of the code. */
  tools?: ExecutionTools;
}

/** Runs code in a guest isolate and returns its result. Never throws for anything the code does. */
export async function execute(
  host: ExecutionHost,
  request: ExecutionRequest,
  executionId: string,
  { onLog, onEgress, signal, session, tools }: ExecuteOptions = {},
): Promise<ExecutionResult> {
  const started = Date.now();
  const secretValues = host.egress?.secrets.map((s) => s.value) ?? [];
  const egress = new InFlight(host.egress, onEgress);
  const finish = (
    status: ExecutionStatus,
    fields: Pick<ExecutionResult, "result" | "error" | "logs">,
  ): ExecutionResult => {
    const attempts = egress.close();
    // Nothing the code produced leaves the service with a secret value or a credential in it.
    const { fields: clean, redactions } = redactOutput(fields, secretValues);
    return {
      executionId,
      status,
      ...clean,
      egress: attempts,
      redactions,
      usage: {
        wallMs: Date.now() - started,
        subrequests: attempts.filter((a) => a.decision === "allowed").length,
      },
      ...(tools ? { tools: tools.close() } : {}),
    };
  };

  const runtime = runtimeFor(request.language);
  const packages = host.packages;
  const prepared = await runtime.prepare({
    code: request.code,
    language: request.language,
    ...(session ? { session: { id: session.id, scope: session.variables.scope } } : {}),
    ...(packages
      ? {
          packages: (entries) =>
            resolvePackages(packages.resolver, {
              entries,
              pins: request.packages ?? {},
              policy: packages.policy,
              ...(session?.packages ? { previous: session.packages } : {}),
            }),
        }
      : {}),
    ...(tools && tools.namespaces.length > 0 ? { namespaces: tools.namespaces } : {}),
  });
  if (!prepared.ok) return finish("error", { error: prepared.error, logs: [] });

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
    ...(host.memoryMb ? { memoryMb: host.memoryMb } : {}),
    ...(signal ? { cancellable: true } : {}),
    ...(!session && prepared.workspace ? { workspace: true } : {}),
    ...(tools && tools.namespaces.length > 0 ? { tools: tools.namespaces } : {}),
  };
  // process.env: each secret's placeholder, never its value.
  const env = Object.fromEntries((host.egress?.secrets ?? []).map((s) => [s.name, s.placeholder]));
  const job: GuestJob = {
    // Tenants never share an isolate, even for the same code; nor do isolates made with different
    // secrets (an isolate's process.env is fixed when it is made), nor programs whose isolates the
    // runtime sets up differently (its part of the key).
    hash: `${host.tenant}-${prepared.isolateKey}${await envKey(env)}`,
    program: prepared.program,
    input: request.input,
    limits,
    ...(session
      ? { session: { values: prepared.carried(session.variables), files: session.files } }
      : {}),
    env,
  };
  tools?.attach(egress);
  const execution = new Execution(executionId, sink, egress, tools);
  const cancel = () => execution.cancellation.cancel();
  // An attempt that goes around the harness reaches only the isolate's global outbound, which
  // knows no execution: it is audited in every execution running in that isolate.
  const untrack = trackIsolate(job.hash, egress);
  let outcome: Outcome;
  let ended: ReturnType<typeof outcomeResult>;
  try {
    signal?.addEventListener("abort", cancel);
    outcome = await host.backend.run(job, execution, signal);
    execution.cancellation.ended();
    ended = outcomeResult(outcome, sink, prepared, request.timeoutMs, finish);
  } finally {
    signal?.removeEventListener("abort", cancel);
    untrack();
    tools?.close();
    // `finish` has closed the audit of a run that ended; one that threw must not leave its
    // requests running, nor its context (secrets included) reachable through its capabilities.
    egress.close();
  }
  const { result, envelope } = ended;
  const settled = prepared.settle(envelope, session?.variables);
  result.logs.push(...settled.warnings);
  if (prepared.packages) result.packages = prepared.packages.used;
  if (session && settled.variables && envelope?.files) {
    session.after = {
      variables: settled.variables,
      files: envelope.files,
      // The session keeps what it imported, at the versions this run used.
      ...(prepared.packages
        ? { packages: mergeLocks(session.packages, prepared.packages.lock) }
        : {}),
    };
  }
  const incident =
    incidentOf(result, outcome) ??
    (tools && tools.refused > 0
      ? `cap: ${tools.refused} tool calls refused past the execution's cap`
      : undefined);
  if (incident) host.onIncident?.(incident, outcome.kind === "killed");
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
  prepared: Prepared,
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
        result: finish("error", { error: locateError(envelope.error, prepared), logs }),
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

function locateError(
  error: Envelope["error"],
  prepared: Prepared,
): NonNullable<ExecutionResult["error"]> {
  // Python's traceback (the JavaScript harness reports none) is passed on as it is.
  if (typeof error?.stack === "string") {
    const { stack, ...rest } = error;
    return { ...locateError(rest, prepared), stack };
  }
  const name = typeof error?.name === "string" ? error.name : "Error";
  const message = typeof error?.message === "string" ? error.message : "";
  if (typeof error?.line !== "number") return { name, message };
  // Python may know the line only (a syntax error at the end of the code).
  if (typeof error.column !== "number") {
    const at = prepared.locate(error.line, 1);
    return at ? { name, message, line: at.line } : { name, message };
  }
  const at = prepared.locate(error.line, error.column);
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
