// The execution a piece of guest code belongs to. The harness runs each execution's code inside
// its own async context; what acts for the code (console, fetch, connect, waitUntil) finds its
// execution here, so concurrent executions in one reused isolate never mix.
import { AsyncLocalStorage } from "node:async_hooks";
import { apply, PromiseCtor, promiseThen, TypeErrorCtor } from "builtins.js";

const context = new AsyncLocalStorage();
/** The running execution of the current async context, if any. */
export const currentRun = context.getStore.bind(context);
/** Calls `fn(...args)` as part of `run`. */
export const runInContext = context.run.bind(context);

/**
 * `waitUntil` for guest code: the promise becomes part of the running execution, which answers
 * only once every such promise has settled (or its deadline has passed). Work the code hands to
 * it therefore never runs after the execution's answer.
 */
export function waitUntil(promise) {
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
export function settled(run) {
  if (run.holds === 0) return undefined;
  return new PromiseCtor((resolve) => {
    run.idle = resolve;
  });
}
