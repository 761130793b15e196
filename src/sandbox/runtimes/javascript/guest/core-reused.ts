// The harness module of a reused isolate ("cordon.js"): the harness, sealed with what ses
// repaired (repair.ts, a module of its own that the main module imports first).
import { type Seal, start as startHarness } from "./harness";
import { seal } from "./seal-reused";

export * from "./core";

/** Installs the harness and seals the isolate; answers its entrypoint. */
export const start = (main: Parameters<typeof startHarness>[0], imported: string[]) =>
  startHarness(main, imported, { reused: true, seal: seal satisfies Seal });
