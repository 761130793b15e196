import { env, exports } from "cloudflare:workers";
import { DEFAULT_EGRESS_CAPS, LIMITS } from "../../src/config";
import { type ExecutionEgress, InFlight } from "../../src/egress/audit";
import { Execution } from "../../src/sandbox/capabilities";
import { type GuestJob, type HarnessLimits, runGuest } from "../../src/sandbox/guest";
import { type LogEntry, LogSink } from "../../src/sandbox/logs";
import { python } from "../../src/sandbox/runtimes/python";

/** A session's state as the harness takes it (docs/python.md): carried values and files. */
export interface PythonSession {
  values: Record<string, string>;
  files: { path: string; data: string }[];
}

/** The harness's envelope with the logs as the executor would report them. */
export interface PythonOutcome {
  status: "ok" | "error" | "timeout";
  reason?: string;
  result?: unknown;
  error?: { name: string; message: string; line?: number; column?: number; stack?: string };
  logs: LogEntry[];
  vars?: Record<string, string>;
  files?: { changed: { path: string; data: string }[]; deleted: string[] };
  warnings?: string[];
  /** The gateway's audit of the run's outbound attempts. */
  egress: unknown[];
}

export interface PythonOptions {
  input?: unknown;
  timeoutMs?: number;
  session?: PythonSession;
  env?: Record<string, string>;
  /** Hosts the run may reach (a loopback upstream stands in for the internet). */
  allow?: string[];
  limits?: Partial<HarnessLimits>;
  /** The run is a turn of this session: it may run in the session's kept interpreter. */
  sessionId?: string;
}

/**
 * Runs Python through the runtime, the real LOADER, Pyodide's files, the snapshot, the gateway
 * and the log sink: the guest side of an execution, with the harness's envelope as it answers.
 */
export async function runPy(code: string, options: PythonOptions = {}): Promise<PythonOutcome> {
  const prepared = await python.prepare({
    code,
    language: "python",
    ...(options.sessionId
      ? { session: { id: options.sessionId, scope: { carried: [], imports: [] } } }
      : {}),
  });
  if (!prepared.ok) throw new Error(prepared.error.message);
  const egress: ExecutionEgress = {
    layers: [{ allow: options.allow ?? [] }],
    secrets: [],
    allowPrivate: false,
    caps: DEFAULT_EGRESS_CAPS,
  };
  const inFlight = new InFlight(egress);
  const sink = new LogSink(LIMITS.logLines, LIMITS.logBytes);
  const execution = new Execution(crypto.randomUUID(), sink, inFlight);
  const limits: HarnessLimits = {
    resultBytes: LIMITS.resultBytes,
    logLines: LIMITS.logLines,
    logBytes: LIMITS.logBytes,
    timeoutMs: options.timeoutMs ?? 10_000,
    ...options.limits,
  };
  const job: GuestJob = {
    hash: `test-${prepared.isolateKey}`,
    program: prepared.program,
    input: options.input,
    limits,
    ...(options.session ? { session: options.session } : {}),
    ...(options.env ? { env: options.env } : {}),
  };
  try {
    const text = await runGuest(env.LOADER, 0, job, execution.capabilities, () =>
      exports.Gateway({ props: { isolate: job.hash } }),
    );
    const envelope = JSON.parse(text) as Omit<PythonOutcome, "logs" | "egress"> & {
      logs: unknown;
      dropped: number;
    };
    return {
      ...envelope,
      logs: sink.finish(envelope.logs, envelope.dropped),
      egress: inFlight.close(),
    };
  } finally {
    inFlight.close();
  }
}
