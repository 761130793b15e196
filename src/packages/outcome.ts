import type { PackageBuild } from "./build";
import type { Lock } from "./lock";

/** What resolving an execution's packages came to: its modules, or the ImportError the result shows. */
export type PackageOutcome =
  | { ok: true; lock: Lock; build: PackageBuild; key: string }
  | { ok: false; error: { name: "ImportError"; message: string } };
