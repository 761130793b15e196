import type { Execution } from "../capabilities";
import type { GuestJob } from "../guest";
import type { Envelope } from "../runtimes/types";

export type { Envelope };

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

/** Makes the deny-all global outbound of the guest isolate `isolate` (its key). */
export type GatewayFactory = (isolate: string) => Fetcher;

/** Where guest isolates live: in this process, or in a pool of runner processes. */
export interface Backend {
  /**
   * Runs a job for `execution`, whose capabilities its guest gets; `signal` aborts a cancellable
   * one (the execution's cancellation is told as well).
   */
  run(job: GuestJob, execution: Execution, signal?: AbortSignal): Promise<Outcome>;
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
