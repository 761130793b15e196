import { closeAudit, openAudit } from "../egress/audit";
import { LIMITS } from "../limits";
import type { ExecutionResultBody as ExecutionResult } from "../schemas/execution";
import { type CompiledModule, type CompileError, compile, type Language } from "./compile";
import harnessSource from "./guest/harness.guest.js";
import { IsolatePolicy, Lru } from "./isolates";
import { type LogEntry, LogSink } from "./logs";

export type { ExecutionResult };

export const GUEST_COMPATIBILITY_DATE = "2026-11-01";

/** What the executor needs to run one piece of code. */
export interface ExecutionRequest {
  code: string;
  language: Language;
  input?: unknown;
  timeoutMs: number;
}

export type ExecutionStatus = ExecutionResult["status"];

/** The runtime pieces an execution uses: the loader and a factory of per-execution gateways. */
export interface Runtime {
  loader: WorkerLoader;
  gateway(props: { executionId: string }): Fetcher;
  tenant: string;
  maxWarmIsolates: number;
}

interface HarnessEntrypoint extends Rpc.WorkerEntrypointBranded {
  run(
    input: unknown,
    limits: { resultBytes: number; logLines: number; logBytes: number; timeoutMs: number },
    egress: Fetcher,
    sink: LogSink,
  ): Promise<string>;
}

interface Envelope {
  status: "ok" | "error" | "timeout";
  result?: unknown;
  error?: { name?: unknown; message?: unknown; line?: unknown; column?: unknown };
  logs: unknown[];
  dropped: number;
}

const compiled = new Lru<string, CompiledModule | CompileError>(512);
let policy: IsolatePolicy | undefined;

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

  openAudit(executionId);
  const sink = new LogSink(LIMITS.logLines, LIMITS.logBytes, onLog);
  const stub = await loadGuest(runtime, module);
  const entrypoint = stub.getEntrypoint<HarnessEntrypoint>();
  const egress = runtime.gateway({ executionId });
  const limits = {
    resultBytes: LIMITS.resultBytes,
    logLines: LIMITS.logLines,
    logBytes: LIMITS.logBytes,
    timeoutMs: request.timeoutMs,
  };

  let expire: (value: "timeout") => void = () => {};
  const timedOut = new Promise<"timeout">((resolve) => {
    expire = resolve;
  });
  const timer = setTimeout(() => expire("timeout"), request.timeoutMs);
  let outcome: string | "timeout";
  try {
    outcome = await Promise.race([entrypoint.run(request.input, limits, egress, sink), timedOut]);
  } catch (err) {
    if (
      err instanceof Error &&
      /code had hung and would never generate a response/.test(err.message)
    ) {
      // The runtime proved the run can never finish (it awaits a promise nothing can settle).
      outcome = "timeout";
    } else {
      return finish("error", { error: loadError(err), logs: sink.close() });
    }
  } finally {
    clearTimeout(timer);
  }
  const timeout = (logs: LogEntry[]) =>
    finish("timeout", {
      error: {
        name: "TimeoutError",
        message: `the execution did not finish within its ${request.timeoutMs} ms timeout (or awaited a promise that can never settle)`,
      },
      logs,
    });
  if (outcome === "timeout") return timeout(sink.close());
  const envelope = JSON.parse(outcome) as Envelope;
  const logs = sink.finish(envelope.logs, envelope.dropped);
  if (envelope.status === "ok") return finish("ok", { result: envelope.result, logs });
  if (envelope.status === "timeout") return timeout(logs);
  return finish("error", { error: locateError(envelope.error, module), logs });
}

async function loadGuest(runtime: Runtime, module: CompiledModule): Promise<WorkerStub> {
  policy ??= new IsolatePolicy(runtime.maxWarmIsolates);
  const code: WorkerLoaderWorkerCode = {
    compatibilityDate: GUEST_COMPATIBILITY_DATE,
    mainModule: "harness.js",
    modules: { "harness.js": harnessSource, "user.js": module.source },
    env: {},
    // A guest that bypasses the harness's fetch still only reaches a gateway that denies.
    globalOutbound: runtime.gateway({ executionId: "" }),
  };
  const hash = await sha256(`${runtime.tenant}\u0000${module.source}`);
  if (policy.warm(hash)) return runtime.loader.get(hash, () => code);
  return runtime.loader.load(code);
}

function locateError(error: Envelope["error"], module: CompiledModule): ExecutionResult["error"] {
  const name = typeof error?.name === "string" ? error.name : "Error";
  const message = typeof error?.message === "string" ? error.message : "";
  if (typeof error?.line !== "number" || typeof error.column !== "number") return { name, message };
  const at = module.toOriginal(error.line, error.column);
  return at ? { name, message, line: at.line, column: at.column } : { name, message };
}

function loadError(err: unknown): ExecutionResult["error"] {
  const message = err instanceof Error ? err.message : String(err);
  if (/No such module/.test(message)) {
    const missing = /No such module "([^"]+)"/.exec(message)?.[1] ?? "";
    return { name: "ImportError", message: `Cannot import "${missing}": no such module` };
  }
  return { name: err instanceof Error ? err.name : "Error", message };
}

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}
