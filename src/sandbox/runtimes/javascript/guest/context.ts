// The execution a piece of guest code belongs to. The harness runs each execution's code inside
// its own async context; what acts for the code (console, fetch, connect, waitUntil) finds its
// execution here, so concurrent executions in one reused isolate never mix.
import { AsyncLocalStorage } from "node:async_hooks";
import type { GuestCapabilities } from "../../../capabilities";
import type { HarnessLimits } from "../../../guest";
import { apply, PromiseCtor, promiseThen, TypeErrorCtor } from "./builtins";

/** A capability as the guest holds it: an RPC stub, whose every call answers a promise. */
export type Stub<T> = {
  [K in keyof T]: T[K] extends (...args: infer Args) => infer Result
    ? (...args: Args) => Promise<Awaited<Result>>
    : never;
};

/** One execution in this isolate: its limits, capabilities, console buffer and state. */
export interface Run {
  __proto__?: null;
  input: unknown;
  /** What the control plane handed this execution: its console, cancellation and egress. */
  capabilities: Stub<GuestCapabilities>;
  /** When the code is stopped, in `Date.now()` time; -1 once cancelled. */
  deadline: number;
  /** Past its deadline or cancelled: it answers `timeout`, whatever the code does after. */
  stopped: boolean;
  cancelled: boolean;
  limits: HarnessLimits;
  /** Console entries not yet sent (JSON array items), and the counts the caps look at. */
  buf: string;
  lines: number;
  chars: number;
  dropped: number;
  flushScheduled: boolean;
  /** The last batch of console entries on its way to the control plane. */
  pending: Promise<void> | undefined;
  /** It has answered: nothing more of it is sent or run. */
  done: boolean;
  /** Promises handed to `waitUntil` that have not settled yet. */
  holds: number;
  /** Called once `holds` is back to 0, if the run is waiting for that. */
  idle: (() => void) | undefined;
  /** Answers the run as timed out at once (a cancelled run). */
  expire: (() => void) | undefined;
  /** `console.count` and `console.time` labels: each execution has its own. */
  counters: Map<string, number> | undefined;
  timers: Map<string, number> | undefined;
}

const context = new AsyncLocalStorage<Run>();
/** The running execution of the current async context, if any. */
export const currentRun: () => Run | undefined = context.getStore.bind(context);
/** Calls `fn(...args)` as part of `run`. */
export const runInContext: <Args extends unknown[], Result>(
  run: Run,
  fn: (...args: Args) => Result,
  ...args: Args
) => Result = context.run.bind(context);

/**
 * `waitUntil` for guest code: the promise becomes part of the running execution, which answers
 * only once every such promise has settled (or its deadline has passed). Work the code hands to
 * it therefore never runs after the execution's answer.
 */
export function waitUntil(promise: unknown): void {
  const run = currentRun();
  if (run === undefined || run.done) {
    throw new TypeErrorCtor("waitUntil() is only available while code is running");
  }
  run.holds++;
  const release = () => {
    run.holds--;
    if (run.holds === 0 && run.idle !== undefined) apply(run.idle, undefined, []);
  };
  // A thenable is adopted as `await` would (its `then` runs as the code's own).
  promiseThen(new PromiseCtor((resolve) => resolve(promise)), release, release);
}

/** Resolves once every promise handed to `waitUntil` in `run` has settled. */
export function settled(run: Run): Promise<void> | undefined {
  if (run.holds === 0) return undefined;
  return new PromiseCtor((resolve) => {
    run.idle = resolve;
  });
}
