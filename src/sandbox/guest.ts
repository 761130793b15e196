import { RpcTarget } from "cloudflare:workers";
import { type CompileRequest, compileThenRun } from "./compile-job";
import builtinsSource from "./guest/builtins.guest.js";
import contextSource from "./guest/context.guest.js";
import freezeSource from "./guest/freeze.guest.js";
import harnessSource from "./guest/harness.guest.js";
import jsonSource from "./guest/json.guest.js";
import leftoversSource from "./guest/leftovers.guest.js";
import moduleSource from "./guest/module.guest.js";
import modulesSource from "./guest/modules.guest.js";
import repairSource from "./guest/repair.guest.js";
import sealOneShotSource from "./guest/seal-oneshot.guest.js";
import sealWarmSource from "./guest/seal-warm.guest.js";
import sesSource from "./guest/ses.guest.js";
import sessionSource from "./guest/session.guest.js";
import socketsSource from "./guest/sockets.guest.js";
import workersSource from "./guest/workers.guest.js";
import { IsolatePolicy } from "./isolates";
import { STAND_INS } from "./shims";

export const GUEST_COMPATIBILITY_DATE = "2026-11-01";

/** Caps the harness enforces inside the isolate. */
export interface HarnessLimits {
  resultBytes: number;
  logLines: number;
  logBytes: number;
  timeoutMs: number;
  /** The harness listens for `waitCancel` (streamed executions, whose client may go away). */
  cancellable?: boolean;
  /** A one-shot run whose code may use node:fs: the harness makes an empty `/tmp/workspace`. */
  workspace?: boolean;
  /**
   * Memory the run may use, in MB (the tenant's `limits.memoryMb`). Enforced outside the
   * isolate, by the runner pool (docs/self-hosting.md); the harness ignores it.
   */
  memoryMb?: number;
}

/** Session state handed to the harness: encoded carried values and the workspace files. */
export interface GuestSession {
  values: Record<string, string>;
  files: { path: string; data: string }[];
}

/** One run of compiled code: what the guest harness needs, wherever the isolate lives. */
export interface GuestJob {
  /** Cache key of the isolate: a hash of the tenant and the compiled source. */
  hash: string;
  /** The compiled module; ignored when `compile` is there. */
  source: string;
  /** Code this runtime compiles before it runs it (large code: src/sandbox/compile-job.ts). */
  compile?: CompileRequest;
  input: unknown;
  limits: HarnessLimits;
  /** Present for executions in a session. */
  session?: GuestSession;
  /**
   * `process.env`: secret placeholders by name, the same for every run of the tenant. The isolate
   * is made with them (a reused isolate's `process.env` is frozen), so `hash` covers them.
   */
  env?: Record<string, string>;
  /**
   * The isolate keeps the runtime's web timers (`setTimeout` answers a number) instead of
   * Node.js's: only for one-shot code that cannot reach a timer global (docs/guest.md).
   */
  webTimers?: boolean;
}

/**
 * Receives console batches from the harness while the code runs, and tells a cancellable run
 * (`limits.cancellable`) when its client has gone away.
 */
export abstract class LogReceiver extends RpcTarget {
  abstract log(batch: string, dropped: number): void;
  #outcome: boolean | undefined;
  readonly #waiters: ((cancelled: boolean) => void)[] = [];

  /** Resolves true if the run is cancelled, false once it has ended without that. */
  waitCancel(): Promise<boolean> {
    if (this.#outcome !== undefined) return Promise.resolve(this.#outcome);
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** Cancels the run: its harness stops it at once. */
  cancel(): void {
    this.#settle(true);
  }

  /** The run is over; nothing is waiting for a cancellation any more. */
  ended(): void {
    this.#settle(false);
  }

  #settle(cancelled: boolean): void {
    if (this.#outcome !== undefined) return;
    this.#outcome = cancelled;
    for (const resolve of this.#waiters.splice(0)) resolve(cancelled);
  }
}

interface HarnessEntrypoint extends Rpc.WorkerEntrypointBranded {
  run(
    input: unknown,
    limits: HarnessLimits,
    egress: Fetcher,
    sink: LogReceiver,
    session: GuestSession | undefined,
  ): Promise<string>;
}

let policy: IsolatePolicy | undefined;

/** Modules every guest isolate has besides the harness, its seal and the user's code. */
const GUEST_MODULES = {
  "builtins.js": builtinsSource,
  "context.js": contextSource,
  "json.js": jsonSource,
  "modules.js": modulesSource,
  "session.js": sessionSource,
  [STAND_INS.get("cloudflare:workers") as string]: workersSource,
  [STAND_INS.get("node:module") as string]: moduleSource,
  // Shadows the runtime's module, so connect() goes through the execution's gateway.
  "cloudflare:sockets": { js: socketsSource },
};

/**
 * Loads the job's code into a guest isolate (warm and cached if it has been seen before, else
 * one-off) and runs it once, compiling it first if the job asks. Resolves with the harness's JSON
 * envelope; rejects only when the isolate could not start (for example a module that does not
 * exist).
 */
export function runGuest(
  loader: WorkerLoader,
  maxWarm: number,
  job: GuestJob,
  egress: Fetcher,
  denyAll: () => Fetcher,
  sink: LogReceiver,
): Promise<string> {
  if (job.compile) {
    const { compile: request, ...compiled } = job;
    return compileThenRun(request, (source) =>
      runGuest(loader, maxWarm, { ...compiled, source }, egress, denyAll, sink),
    );
  }
  policy ??= new IsolatePolicy(maxWarm);
  const warm = policy.warm(job.hash);
  // Built only when an isolate is made: a warm isolate already has its code.
  const code = (): WorkerLoaderWorkerCode => ({
    compatibilityDate: GUEST_COMPATIBILITY_DATE,
    // Node.js's global timers cost every isolate more than a millisecond to install.
    compatibilityFlags: job.webTimers ? ["no_nodejs_global_timers"] : [],
    mainModule: "harness.js",
    modules: {
      "harness.js": harnessSource,
      ...GUEST_MODULES,
      // A reused isolate is sealed with Hardened JavaScript (ses); a one-shot isolate serves one
      // execution and gets only the cheap part that keeps writes failing alike (docs/isolates.md).
      ...(warm
        ? {
            "seal.js": sealWarmSource,
            "repair.js": repairSource,
            "ses.js": sesSource,
            "freeze.js": freezeSource,
            "leftovers.js": leftoversSource,
          }
        : { "seal.js": sealOneShotSource }),
      "user.js": job.source,
    },
    // The runtime fills process.env from these; guest code never sees this env itself
    // (cloudflare:workers is a stand-in, workers.guest.js).
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
  return entrypoint.run(job.input, job.limits, egress, sink, job.session);
}
