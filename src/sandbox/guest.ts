import { GUEST_COMPATIBILITY_DATE } from "../config";
import type { GuestCapabilities } from "./capabilities";
import { HeavyIsolates, IsolatePolicy } from "./isolates";
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
    perRun: string | undefined,
  ): Promise<string>;
}

/** What a harness that can be asked to end its isolate offers (Python's). */
interface EndableEntrypoint extends Rpc.WorkerEntrypointBranded {
  end(): Promise<void>;
}

let policy: IsolatePolicy | undefined;
/** Heavy reused isolates, by runtime (GuestRuntime.heavyPerProcess). */
const heavy = new Map<string, HeavyIsolates>();

/** How an envelope that asks for its isolate to be ended ends (Envelope.discard). */
const DISCARD_TAIL = ',"discard":true}';

/**
 * Stands in for an isolate that was already ended when it is ended again (`LOADER.get` makes it
 * under the name only to end it): far cheaper than the isolate it replaces.
 */
const ENDER_MODULE = [
  'import { WorkerEntrypoint, abortIsolate } from "cloudflare:workers";',
  "export default class extends WorkerEntrypoint {",
  '  end() { abortIsolate("ended by its process"); }',
  "}",
].join("\n");

/** Ends the reused isolate named `name`, if it is there; it is made afresh when next asked for. */
async function endIsolate(loader: WorkerLoader, name: string): Promise<void> {
  const stub = loader.get(name, () => ({
    compatibilityDate: GUEST_COMPATIBILITY_DATE,
    mainModule: "end.js",
    modules: { "end.js": ENDER_MODULE },
    globalOutbound: null,
  }));
  try {
    await stub.getEntrypoint<EndableEntrypoint>().end();
  } catch {
    // Ending the isolate breaks the call that asked for it: that is the answer expected.
  }
}

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
  return runtime.run(job.program, async (program) => {
    const heavyMax = runtime.heavyPerProcess;
    if (heavyMax === undefined || !runtime.reusable(program)) {
      policy ??= new IsolatePolicy(maxWarm);
      return load(program, runtime.reusable(program) && policy.warm(job.hash));
    }
    let isolates = heavy.get(runtime.name);
    if (!isolates) {
      isolates = new HeavyIsolates(heavyMax, runtime.heavyKeepMs);
      heavy.set(runtime.name, isolates);
    }
    // The process answers for a run at its deadline, whether or not the isolate has.
    const { hold, end } = isolates.enter(job.hash, Date.now() + job.limits.timeoutMs);
    // Room first: each heavy isolate holds its interpreter's whole memory.
    for (const name of end) await endIsolate(loader, name);
    if (!hold) return load(program, false);
    let discard = true;
    try {
      const text = await load(program, true);
      discard = text.endsWith(DISCARD_TAIL);
      return text;
    } finally {
      // A run that threw (its isolate could not start, or was lost) leaves nothing to reuse.
      if (isolates.leave(hold, discard)) await endIsolate(loader, job.hash);
    }
  });

  function load(program: GuestProgram, warm: boolean): Promise<string> {
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
    return entrypoint.run(
      job.input,
      job.limits,
      capabilities,
      job.session,
      runtime.perRun?.(program),
    );
  }
}
