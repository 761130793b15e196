// What the guest modules use of the isolate's runtime that the project's lib (ES2023) and the
// Workers types do not declare, and the modules of the guest isolate itself.

interface String {
  /** ES2024. */
  toWellFormed(): string;
}

declare namespace CloudflareWorkersModule {
  /** Replaces the isolate once the current request has been answered. */
  function abortIsolate(reason: string): void;
}

/** The compiled code (../compile.ts): a module that runs the code once per call. */
declare module "user.js" {
  const run: (slots: object, input: unknown, tick: () => void, check: () => void) => Promise<void>;
  export default run;
  /** The built-in modules its import declarations name. */
  export const __cordon$imported: string[];
}

/** `ses`'s lockdown, bundled into a reused isolate's repair module (host/guest.mjs). */
declare module "ses-lockdown" {
  export function repairIntrinsics(options: Record<string, unknown>): () => void;
}
