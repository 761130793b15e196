import { env, exports } from "cloudflare:workers";
import { DEFAULT_EGRESS_CAPS, LIMITS } from "../../src/config";
import { closeAudit, type ExecutionEgress, openAudit } from "../../src/egress/audit";
import type { HarnessLimits } from "../../src/sandbox/guest";
import { type LogEntry, LogSink } from "../../src/sandbox/logs";
import {
  type PythonJob,
  type PythonSession,
  pythonSnapshot,
  runPython,
} from "../../src/sandbox/runtimes/python/isolate";
import { pyodideFiles } from "../../src/sandbox/runtimes/python/pyodide";

/** The harness's envelope with the logs as the executor would report them. */
export interface PythonOutcome {
  status: "ok" | "error" | "timeout";
  reason?: string;
  result?: unknown;
  error?: { name: string; message: string; line?: number; column?: number; stack?: string };
  logs: LogEntry[];
  vars?: Record<string, string>;
  files?: { changed: { path: string; data: string }[]; deleted: string[] };
  state?: string;
  warnings?: string[];
  /** The gateway's audit of the run's outbound attempts. */
  egress: unknown[];
}

export interface PythonOptions {
  input?: unknown;
  timeoutMs?: number;
  session?: PythonSession;
  env?: Record<string, string>;
  /** Run in the named, reused isolate of this key. */
  reuse?: string;
  /** Hosts the run may reach (a loopback upstream stands in for the internet). */
  allow?: string[];
  limits?: Partial<HarnessLimits>;
}

/** Runs Python through the real LOADER, Pyodide files, snapshot, gateway and log sink. */
export async function runPy(code: string, options: PythonOptions = {}): Promise<PythonOutcome> {
  const files = await pyodideFiles(env.PYODIDE);
  const snapshot = await pythonSnapshot(env.LOADER, files);
  const executionId = crypto.randomUUID();
  const egress: ExecutionEgress = {
    layers: [{ allow: options.allow ?? [] }],
    secrets: [],
    allowPrivate: false,
    caps: DEFAULT_EGRESS_CAPS,
  };
  openAudit(executionId, egress);
  const sink = new LogSink(LIMITS.logLines, LIMITS.logBytes);
  const limits: HarnessLimits = {
    resultBytes: LIMITS.resultBytes,
    logLines: LIMITS.logLines,
    logBytes: LIMITS.logBytes,
    timeoutMs: options.timeoutMs ?? 10_000,
    ...options.limits,
  };
  const job: PythonJob = {
    hash: options.reuse ?? "",
    ...(options.reuse ? { reuse: true } : {}),
    code,
    input: options.input,
    limits,
    ...(options.session ? { session: options.session } : {}),
    ...(options.env ? { env: options.env } : {}),
  };
  try {
    const text = await runPython(
      env.LOADER,
      files,
      snapshot,
      job,
      exports.Gateway({ props: { executionId } }),
      () => exports.Gateway({ props: { executionId: "", isolate: job.hash } }),
      sink,
    );
    const envelope = JSON.parse(text) as Omit<PythonOutcome, "logs" | "egress"> & {
      logs: unknown;
      dropped: number;
    };
    return {
      ...envelope,
      logs: sink.finish(envelope.logs, envelope.dropped),
      egress: closeAudit(executionId),
    };
  } finally {
    closeAudit(executionId);
  }
}
