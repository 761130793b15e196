// The JavaScript and TypeScript runtime: code is compiled on the control plane (or, when large,
// where it runs) into a module that the harness (./guest, bundled by host/guest.mjs) runs in a
// V8 isolate; a session carries top-level bindings by value or by source (./carry.ts).

import { sha256Hex } from "../../../bytes";
import { Lru } from "../../../cache";
import type { Lock } from "../../../packages/lock";
import type { UsedPackageBody } from "../../../schemas/packages";
import type { CompileError, GuestRuntime, Prepared, PrepareRequest } from "../types";
import coreOneShotSource from "./built/core-oneshot.guest.js";
import coreReusedSource from "./built/core-reused.guest.js";
import mainOneShotSource from "./built/main-oneshot.guest.js";
import mainReusedSource from "./built/main-reused.guest.js";
import moduleSource from "./built/module.guest.js";
import repairSource from "./built/repair.guest.js";
import socketsSource from "./built/sockets.guest.js";
import workersSource from "./built/workers.guest.js";
import { nextVariables, withoutRefused } from "./carry";
import { type CompiledModule, compile } from "./compile";
import {
  type CompileRequest,
  compileCostMs,
  compileMemoryMb,
  compileSize,
  compileThenRun,
  readCompiledInfo,
} from "./compile-job";
import { type Linked, linkPackages } from "./packages";
import type { JavaScriptProgram } from "./program";
import { STAND_INS } from "./shims";

export type { JavaScriptProgram };

/**
 * Code that may reach node:fs (the word `fs`, as in `node:fs` or `fs/promises`, a dynamic import
 * or getBuiltinModule): only its one-shot runs get an empty /tmp/workspace made (docs/guest.md).
 */
const MAY_USE_FS = /\bfs\b|getBuiltinModule|\bimport\s*\(/;

/**
 * Code that may reach a timer global: by name, through the global object, or inside a module it
 * imports or requires (which may call `.unref()` on what `setTimeout` answers). Only one-shot code
 * without any of these runs in an isolate with the runtime's web timers, spared the cost of
 * installing Node.js's (docs/guest.md).
 */
const MAY_USE_TIMERS =
  /\b(?:set|clear)(?:Timeout|Interval|Immediate)\b|\b(?:timers|import|require|getBuiltinModule|process|globalThis|global|self)\b|node:/;

interface CompiledRun extends CompiledModule {
  hash: string;
  mayUseFs: boolean;
  mayUseTimers: boolean;
  /** The code, to be compiled where it runs (`source` is then empty). */
  compile?: CompileRequest;
}

const MiB = 1024 * 1024;

/**
 * Code that, with its session's carried code, is larger than this is compiled by the runtime
 * that runs it (a runner process, self-hosted), not here: compiling takes up to ~2 µs a
 * character, and every tenant's requests wait while the control plane compiles (docs/isolates.md).
 */
const LOCAL_COMPILE_CHARS = 64 * 1024;

/**
 * Compiled modules by language, code and session scope, with the hash of their source and
 * whether the code may reach node:fs or a timer global. Bounded by what the entries keep alive
 * (key and module, strings counted at two bytes a character).
 */
const compiled = new Lru<string, CompiledRun | CompileError>(512, {
  maxBytes: 32 * MiB,
  maxEntryBytes: 4 * MiB,
  bytes: (key, module) => 2 * key.length + (module.ok ? module.bytes : 1024),
});

/** Where a module compiled where it ran stands until its envelope says what the compiler found. */
const COMPILED_THERE = {
  ok: true,
  source: "",
  declared: [],
  imports: [],
  refused: { carried: [], imports: [] },
  warnings: [],
  packages: [],
  bytes: 0,
  // The runtime that compiled it located the run's error in the code as sent already.
  toOriginal: (line, column) => ({ line, column }),
} satisfies CompiledModule;

/** The compiled module for a request, from the cache, or made (or left to where it runs). */
async function compiledRun(request: PrepareRequest): Promise<CompiledRun | CompileError> {
  const { code, language, namespaces } = request;
  const scope = request.session?.scope;
  const key = `${language}\u0000${code}\u0000${scope ? JSON.stringify(scope) : ""}${
    namespaces ? `\u0000${namespaces.join(",")}` : ""
  }`;
  if (compileSize(code, scope) > LOCAL_COMPILE_CHARS) {
    return {
      ...COMPILED_THERE,
      // Compiling is deterministic: the same code and scope make the same module.
      hash: `c${await sha256Hex(key)}`,
      mayUseFs: MAY_USE_FS.test(code),
      mayUseTimers: MAY_USE_TIMERS.test(code),
      compile: {
        code,
        language,
        ...(scope ? { scope } : {}),
        ...(namespaces ? { namespaces } : {}),
      },
    };
  }
  let module = compiled.get(key);
  if (!module) {
    const made = compile(code, language, scope, { packages: true, namespaces });
    module = made.ok
      ? {
          ...made,
          hash: await sha256Hex(made.source),
          mayUseFs: MAY_USE_FS.test(code),
          mayUseTimers: MAY_USE_TIMERS.test(code),
        }
      : made;
    compiled.set(key, module);
  }
  return module;
}

/**
 * The guest modules of an isolate, by their names in its module map (built by host/guest.mjs from
 * ./guest). The main module imports the harness first (in a reused isolate, ses's repairs before
 * even that), then the stand-ins the isolate evaluates before any code, then the user's module;
 * it hands the user's module to the harness, which seals the isolate.
 */
const STAND_IN_MODULES = {
  [STAND_INS.get("cloudflare:workers") as string]: workersSource,
  [STAND_INS.get("node:module") as string]: moduleSource,
  // Shadows the runtime's module, so connect() goes through the execution's gateway.
  "cloudflare:sockets": { js: socketsSource },
};
/**
 * A one-shot isolate serves one execution and gets only the cheap part of sealing, which keeps
 * writes failing alike (docs/isolates.md); a reused one is sealed with Hardened JavaScript (ses).
 */
const ONE_SHOT_MODULES = {
  "harness.js": mainOneShotSource,
  "cordon.js": coreOneShotSource,
  ...STAND_IN_MODULES,
};
const REUSED_MODULES = {
  "harness.js": mainReusedSource,
  "repair.js": repairSource,
  "cordon.js": coreReusedSource,
  ...STAND_IN_MODULES,
};

/** The JavaScript and TypeScript runtime. */
export const javascript: GuestRuntime<JavaScriptProgram> = {
  name: "javascript",

  async prepare(request) {
    const module = await compiledRun(request);
    if (!module.ok) return module;
    let linked: ({ lock: Lock; used: UsedPackageBody[]; key: string } & Linked) | undefined;
    if (module.packages.length > 0) {
      const resolved = request.packages
        ? await request.packages(module.packages)
        : {
            ok: false as const,
            error: {
              name: "ImportError" as const,
              message: "npm packages cannot be imported here",
            },
          };
      // An ImportError, located nowhere: the package, not the code, is what failed.
      if (!resolved.ok) return { ok: false, error: resolved.error };
      linked = {
        lock: resolved.lock,
        used: resolved.build.packages,
        key: resolved.key,
        ...linkPackages(module.source, resolved.build),
      };
    }
    const session = request.session !== undefined;
    const webTimers = !session && !module.mayUseTimers;
    const program: JavaScriptProgram = {
      runtime: "javascript",
      source: linked ? linked.source : module.source,
      ...(module.compile ? { compile: module.compile } : {}),
      ...(webTimers ? { webTimers } : {}),
      ...(linked ? { packages: linked.modules } : {}),
    };
    return {
      ok: true,
      program,
      // One-shot and session runs never share an isolate (a session isolate loads node:fs before
      // any of its code runs), nor do isolates with web and with Node.js timers, nor programs
      // linked to different package sets.
      isolateKey: `${session ? "s" : webTimers ? "w" : "o"}-${module.hash}${linked ? `-p${linked.key.slice(0, 16)}` : ""}`,
      workspace: !session && module.mayUseFs,
      ...(linked ? { packages: { lock: linked.lock, used: linked.used } } : {}),
      locate: (line, column) => module.toOriginal(line, column),
      carried: (variables) => variables.values,
      settle(envelope, before) {
        const found = module.compile ? readCompiledInfo(envelope?.compiled) : module;
        const warnings: ReturnType<Prepared["settle"]>["warnings"] = [];
        if (found.warnings.length > 0) {
          warnings.push({
            level: "warn",
            message: `dropped from the session (they cannot be declared safely): ${found.warnings.join(", ")}`,
          });
        }
        if (!before || !envelope?.vars || !envelope.files) return { warnings };
        const variables = nextVariables(
          withoutRefused(before, found.refused),
          found.declared,
          found.imports,
          envelope.vars,
        );
        if (variables.warnings.length > 0) {
          warnings.push({
            level: "warn",
            message: `not carried to the next execution: ${variables.warnings.join(", ")}`,
          });
        }
        // Python's variables are not this runtime's: they stay as they were.
        return {
          warnings,
          variables: before.python ? { ...variables, python: before.python } : variables,
        };
      },
    } satisfies Prepared<JavaScriptProgram>;
  },

  isolate(program, reused) {
    return {
      // Node.js's global timers cost every isolate more than a millisecond to install.
      compatibilityFlags: program.webTimers ? ["no_nodejs_global_timers"] : [],
      mainModule: "harness.js",
      modules: {
        ...program.packages,
        ...(reused ? REUSED_MODULES : ONE_SHOT_MODULES),
        "user.js": program.source,
      },
    };
  },

  // Package modules keep whatever state the code leaves in them: a run that imports packages
  // gets an isolate of its own, so nothing of it reaches a later run (docs/packages.md).
  reusable: (program) => program.packages === undefined,

  setupCostMs: (program) => compileCostMs(program.compile),
  setupMemoryMb: (program) => compileMemoryMb(program.compile),

  run(program, load) {
    const { compile: request, ...rest } = program;
    if (!request) return load(program);
    return compileThenRun(request, (source) => load({ ...rest, source }));
  },
};
