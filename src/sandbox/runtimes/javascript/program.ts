import type { CompileRequest } from "./compile-job";

/** A JavaScript program as the isolate that runs it gets it. */
export interface JavaScriptProgram {
  runtime: "javascript";
  /** The compiled module; empty when `compile` is there. */
  source: string;
  /** Code the runtime running the job compiles before it runs it (large code: ./compile-job.ts). */
  compile?: CompileRequest;
  /**
   * The isolate keeps the runtime's web timers (`setTimeout` answers a number) instead of
   * Node.js's: only for one-shot code that cannot reach a timer global (docs/guest.md).
   */
  webTimers?: boolean;
}
