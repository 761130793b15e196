import { GUEST_COMPATIBILITY_DATE } from "../config";
import type { GuestCapabilities } from "./capabilities";
import { IsolatePolicy } from "./isolates";
import { runtimeOf } from "./runtimes";
import type { GuestProgram } from "./runtimes/types";

export { GUEST_COMPATIBILITY_DATE };

/** Caps the harness enforces inside the isolate. */
export interface HarnessLimits {
  resultBytes: number;
  logLines: number;
  logBytes: number;
  timeoutMs: number;
  /** The harness listens for `waitCancel` (streamed executions, whose client may go away). */
  cancellable?: boolean;
  /** A one-shot run whose code may use the file system: the harness makes an empty `/tmp/workspace`. */
  workspace?: boolean;
  /**
   * Memory the run may use, in MB (the tenant's `limits.memoryMb`). Enforced outside the
   * isolate, by the runner pool (docs/self-hosting.md); the harness ignores it.
   */
  memoryMb?: number;
  /** The execution's tool namespaces: the harness binds each one for the code (guest/tools.ts). */
  tools?: string[];
}

/** Session state handed to the harness: encoded carried values and the workspace files. */
export interface GuestSession {
  values: Record<string, string>;
  files: { path: string; data: string }[];
}

/** One run of a program: what the guest harness needs, wherever the isolate lives. */
export interface GuestJob {
  /** Key of the isolate: the tenant, the program and what the isolate is made with. */
  hash: string;
  program: GuestProgram;
  input: unknown;
  limits: HarnessLimits;
  /** Present for executions in a session. */
  session?: GuestSession;
  /**
   * `process.env`: secret placeholders by name, the same for every run of the tenant. The isolate
   * is made with them (a reused isolate's `process.env` is frozen), so `hash` covers them.
   */
  env?: Record<string, string>;
}

/** What every runtime's harness offers: one call per execution. */
interface HarnessEntrypoint extends Rpc.WorkerEntrypointBranded {
  run(
    input: unknown,
    limits: HarnessLimits,
    capabilities: GuestCapabilities,
    session: GuestSession | undefined,
  ): Promise<string>;
}

let policy: IsolatePolicy | undefined;

/**
 * Loads the job's program into a guest isolate (warm and cached if it has been seen before, else
 * one-off) and runs it once, with whatever its runtime does first (compiling large code). Resolves
 * with the harness's JSON envelope; rejects only when the isolate could not start (for example a
 * module that does not exist).
 */
export function runGuest(
  loader: WorkerLoader,
  maxWarm: number,
  job: GuestJob,
  capabilities: GuestCapabilities,
  denyAll: () => Fetcher,
): Promise<string> {
  const runtime = runtimeOf(job.program);
  return runtime.run(job.program, (program) => {
    policy ??= new IsolatePolicy(maxWarm);
    const warm = runtime.reusable(program) && policy.warm(job.hash);
    // Built only when an isolate is made: a warm isolate already has its code.
    const code = (): WorkerLoaderWorkerCode => ({
      compatibilityDate: GUEST_COMPATIBILITY_DATE,
      ...runtime.isolate(program, warm),
      // The runtime fills process.env from these; guest code never sees this env itself.
      env: job.env ?? {},
      // A guest that bypasses the harness's fetch still only reaches a gateway that denies.
      globalOutbound: denyAll(),
    });
    const stub = warm ? loader.get(job.hash, code) : loader.load(code());
    // On Cloudflare the platform enforces these; locally they are ignored and the harness's
    // deadline checks and the runner supervisor do the same job.
    const entrypoint = stub.getEntrypoint<HarnessEntrypoint>(undefined, {
      // The gateway enforces (and audits) the subrequest cap; this is only a backstop above it.
      limits: { cpuMs: job.limits.timeoutMs, subRequests: 1_000 },
    });
    return entrypoint.run(job.input, job.limits, capabilities, job.session);
  });
}
