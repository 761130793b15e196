// Deadline checks compiled into user code (../instrument.ts). `tick` is on every loop iteration
// and function entry, so it only looks at the clock every TICKS_PER_CHECK calls, or on every call
// while some run of this isolate is stopped but not yet answered.
import { DateCtor, ErrorCtor } from "./builtins";
import { currentRun, type Run } from "./context";

const now = DateCtor.now;
const TICKS_PER_CHECK = 1024;
let ticks = 0;
let stoppedRuns = 0;

/** Thrown into user code once its run is past its deadline or finished. */
class RunStopped extends ErrorCtor {}

/** Marks a run that has not answered yet as stopped: it will answer `timeout`. */
export function stop(run: Run): void {
  if (!run.stopped && !run.done) {
    run.stopped = true;
    stoppedRuns++;
  }
}

/** A stopped run has answered: ticks go back to looking at the clock only now and then. */
export function answered(run: Run): void {
  if (run.stopped) stoppedRuns--;
}

/** When a run that starts now must have finished. */
export function deadlineIn(ms: number): number {
  return now() + ms;
}

/** Stops the code of a run that is past its deadline or finished. */
export function check(): void {
  const run = currentRun();
  if (run === undefined || run.done || now() > run.deadline) {
    if (run !== undefined) stop(run);
    throw new RunStopped("the execution ran past its deadline");
  }
}

/** Counts a loop iteration or function entry; checks the deadline every so often. */
export function tick(): void {
  if (++ticks >= TICKS_PER_CHECK || stoppedRuns > 0) {
    ticks = 0;
    check();
  }
}
