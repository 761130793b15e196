// The harness module of a one-shot isolate ("cordon.js"): the harness, sealed the cheap way.
import { type Seal, start as startHarness } from "./harness";
import { seal } from "./seal-oneshot";

export * from "./core";

/** Installs the harness and seals the isolate; answers its entrypoint. */
export const start = (main: Parameters<typeof startHarness>[0], imported: string[]) =>
  startHarness(main, imported, { reused: false, seal: seal satisfies Seal });
