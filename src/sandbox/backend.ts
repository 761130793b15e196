import type { Captured } from "./carry";
import type { CompiledInfo } from "./compile-job";
import type { WorkspaceChanges } from "./executor";
import type { GuestJob } from "./guest";
import { type LogReceiver, runGuest } from "./guest";

/** What the guest harness answers (src/sandbox/guest/harness.guest.js builds it). */
export interface Envelope {
  status: "ok" | "error" | "timeout";
  reason?: "waiting" | "computing" | "cancelled";
  result?: unknown;
  error?: { name?: unknown; message?: unknown; line?: unknown; column?: unknown };
  logs: unknown[];
  dropped: number;
  vars?: Record<string, Captured>;
  files?: WorkspaceChanges;
  /** For a job compiled where it ran (`GuestJob.compile`): what the compiler found. */
  compiled?: CompiledInfo;
}

/** How a run ended, as seen from the control plane. */
export type Outcome =
  | { kind: "envelope"; envelope: Envelope }
  | { kind: "timeout" }
  | {
      kind: "killed";
      reason: string;
      /**
       * Set when this execution took its runner down, and how: it is charged with an incident
       * and its code is quarantined. Executions that only shared that runner are not charged.
       */
      culprit?: "hung" | "memory" | "crashed";
    }
  | { kind: "failed"; name: string; message: string };

/** Identifies the execution to the egress gateway. */
export interface RunMeta {
  executionId: string;
  egressToken: string;
}

/**
 * Makes the gateway entrypoint for an execution, or (empty id) the deny-all global outbound of
 * the guest isolate `isolate`.
 */
export type GatewayFactory = (executionId: string, isolate?: string) => Fetcher;

/** Where guest isolates live: in this process, or in a pool of runner processes. */
export interface Backend {
  /** Runs a job; `signal` aborts a cancellable one (its sink is cancelled as well). */
  run(job: GuestJob, meta: RunMeta, sink: LogReceiver, signal?: AbortSignal): Promise<Outcome>;
}

/** How a run ends when its client went away. */
export const CANCELLED = {
  kind: "killed",
  reason: "cancelled: the client went away before the execution finished",
} as const satisfies Outcome;

/** How long past its deadline a run may take to report before its runner counts as hung. */
export const GRACE_MS = 400;

/**
 * Races a run against its deadline. The harness stops code that computes past it; this catches
 * code that waits (timers, I/O) instead.
 */
export async function withDeadline<T>(run: Promise<T>, ms: number, onExpiry: () => T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(onExpiry()), ms);
  });
  try {
    return await Promise.race([run, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs guests with this worker's own `LOADER` (tests, `wrangler dev`, Cloudflare). */
export class LocalBackend implements Backend {
  readonly #loader: WorkerLoader;
  readonly #maxWarm: number;
  readonly #gateway: GatewayFactory;

  constructor(loader: WorkerLoader, maxWarm: number, gateway: GatewayFactory) {
    this.#loader = loader;
    this.#maxWarm = maxWarm;
    this.#gateway = gateway;
  }

  async run(job: GuestJob, meta: RunMeta, sink: LogReceiver): Promise<Outcome> {
    const running = runGuest(
      this.#loader,
      this.#maxWarm,
      job,
      this.#gateway(meta.executionId),
      () => this.#gateway("", job.hash),
      sink,
    ).then(
      (json): Outcome => ({ kind: "envelope", envelope: JSON.parse(json) as Envelope }),
      (err: unknown): Outcome => failure(err),
    );
    return withDeadline(running, job.limits.timeoutMs, () => ({ kind: "timeout" }));
  }
}

/** Turns an isolate that failed to start into an outcome; a provably hung run is a timeout. */
export function failure(err: unknown): Outcome {
  const message = err instanceof Error ? err.message : String(err);
  // The runtime proved the run can never finish (it awaits a promise nothing can settle).
  if (/code had hung and would never generate a response/.test(message)) return { kind: "timeout" };
  const missing = /No such module "([^"]+)"/.exec(message)?.[1];
  if (missing !== undefined) {
    return {
      kind: "failed",
      name: "ImportError",
      message: `Cannot import "${missing}": no such module`,
    };
  }
  return { kind: "failed", name: err instanceof Error ? err.name : "Error", message };
}
