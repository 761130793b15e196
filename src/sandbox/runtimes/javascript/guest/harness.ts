// The run lifecycle of a guest isolate, and what is installed before any user code runs. The
// harness is evaluated first (a reused isolate's ses repairs only before it), keeps its own
// references to the built-ins it needs, and reports only through strings it builds itself, so
// guest code that replaces globals or prototypes cannot forge its status, result or logs. Once it
// has installed what guest code reaches (console, fetch, input), the isolate's seal freezes it
// (docs/isolates.md).

import { abortIsolate, WorkerEntrypoint } from "cloudflare:workers";
import type userModule from "user.js";
import type { GuestCapabilities } from "../../../capabilities";
import type { GuestSession, HarnessLimits } from "../../../guest";
import {
  builtinModule,
  defineProperty,
  hasOwn,
  objectKeys,
  PromiseCtor,
  promiseThen,
} from "./builtins";
import { consoleObject } from "./console";
import { currentRun, type Run, runInContext, type Stub, settled } from "./context";
import { answered, check, deadlineIn, stop, tick } from "./deadline";
import { envelope, errorBody, resultBody } from "./envelope";
import { guestFetch } from "./fetch";
import { guardProcess, moduleSpecifier, standInNamespaces } from "./modules";
import { perRunProcess } from "./process-state";
import { captureBindings, collectWorkspace, decodeValue, hydrateWorkspace } from "./session";
import { type ToolNamespaces, toolNamespaces } from "./tools";

const setTimeoutOriginal = setTimeout;
const clearTimeoutOriginal = clearTimeout;

/** The compiled code's main function (../compile.ts). */
type UserMain = typeof userModule;

/** How the compiled code hands back its results and reaches the harness, per run. */
interface Slots {
  __proto__?: null;
  /** Carried values going in, by name. */
  in: { __proto__?: null; [name: string]: unknown };
  /** Where a dynamic import goes. */
  m: typeof moduleSpecifier;
  /** The default export, when there is one. */
  d?: unknown;
  /** The completion value of the top-level statements. */
  l?: unknown;
  /** Getters of the bindings the code left, for a session to carry. */
  v?: Record<string, () => unknown>;
  /** The run's tool namespaces, by name (./tools.ts). */
  t?: ToolNamespaces;
}

/** Freezes the isolate once the harness is installed: a one-shot or a reused isolate's way. */
export type Seal = (what: {
  /** The runtime's `process.getBuiltinModule`. */
  load: (name: string) => unknown;
  /** What the harness made that guest code can reach. */
  roots: unknown[];
  /** The built-in modules the code imports. */
  imported: string[];
}) => unknown;

let userMain: UserMain;
let reused = false;

async function runUserCode(slots: Slots, input: unknown): Promise<unknown> {
  await userMain(slots, input, tick, check);
  if (hasOwn(slots, "d")) {
    const exported = slots.d;
    return typeof exported === "function" ? await exported(input) : await exported;
  }
  return await slots.l;
}

/** Stops a run whose client went away: its code gets RunStopped at its next check. */
async function watchCancel(run: Run): Promise<void> {
  let cancelled = false;
  try {
    cancelled = await run.capabilities.waitCancel();
  } catch {
    // The control plane is gone; the deadline still stops the run.
  }
  if (!cancelled || run.done) return;
  run.cancelled = true;
  run.deadline = -1;
  stop(run);
  run.expire?.();
}

/**
 * One execution, inside its own context: the code, its result, the promises it handed to
 * waitUntil and, in a session, what it left. Answers the envelope's body. Getters, `toJSON` and
 * Proxy traps met on the way are the code's own, so they run here too, under its deadline.
 */
async function execute(
  run: Run,
  slots: Slots,
  input: unknown,
  session: GuestSession | undefined,
  before: Map<string, string> | undefined,
): Promise<string> {
  let body: string;
  try {
    body = resultBody(await runUserCode(slots, input), run.limits.resultBytes);
  } catch (thrown) {
    body = errorBody(thrown);
  }
  if (run.holds > 0) await settled(run);
  if (session && before) {
    // As in a REPL, what the code declared and wrote stays, whether it finished or threw.
    body += `,"vars":${captureBindings(slots.v)},"files":${collectWorkspace(before)}`;
  }
  return body;
}

/** The isolate's entrypoint: one `run` per execution. */
class Harness extends WorkerEntrypoint {
  /**
   * Runs the user's module once and answers with a JSON envelope string:
   * `{ status, result | error, logs, dropped }`. Never throws.
   */
  async run(
    input: unknown,
    limits: HarnessLimits,
    capabilities: Stub<GuestCapabilities>,
    session: GuestSession | undefined,
  ): Promise<string> {
    const run: Run = {
      __proto__: null,
      input,
      capabilities,
      deadline: deadlineIn(limits.timeoutMs),
      stopped: false,
      cancelled: false,
      limits,
      buf: "",
      lines: 0,
      chars: 0,
      dropped: 0,
      flushScheduled: false,
      pending: undefined,
      done: false,
      holds: 0,
      idle: undefined,
      expire: undefined,
      counters: undefined,
      timers: undefined,
      process: undefined,
      stackTraceLimit: undefined,
    };
    const slots: Slots = { __proto__: null, in: { __proto__: null }, m: moduleSpecifier };
    if (limits.tools) slots.t = toolNamespaces(run, limits.tools);
    const values = session?.values;
    const names = values ? objectKeys(values) : [];
    for (let i = 0; i < names.length; i++) {
      const name = names[i] as string;
      try {
        slots.in[name] = decodeValue((values as Record<string, string>)[name] as string);
      } catch {
        // A value that cannot be decoded is left undefined rather than failing the run.
      }
    }
    // Only code that may use the file system needs the workspace made (../index.ts): loading
    // node:fs costs every fresh isolate milliseconds.
    const before = session || limits.workspace ? hydrateWorkspace(session?.files) : undefined;
    if (limits.cancellable) void watchCancel(run);
    let body: string | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      // Answering at the deadline ends this call's I/O context, which cancels the timers and
      // callbacks the code left behind, so nothing of it keeps running afterwards.
      body = await new PromiseCtor<string | undefined>((resolve, reject) => {
        run.expire = () => resolve(undefined);
        timer = setTimeoutOriginal(run.expire, limits.timeoutMs);
        promiseThen(
          runInContext(run, execute, run, slots, input, session, before),
          resolve,
          reject,
        );
      });
    } catch (thrown) {
      body = errorBody(thrown);
    }
    clearTimeoutOriginal(timer);
    // Once stopped, the run timed out whatever the code did with the RunStopped error.
    const timedOut = body === undefined || run.stopped;
    if (run.cancelled) body = `"status":"timeout","reason":"cancelled"`;
    else if (run.stopped) body = `"status":"timeout","reason":"computing"`;
    else if (body === undefined) body = `"status":"timeout","reason":"waiting"`;
    answered(run);
    run.done = true;
    await run.pending;
    // Something of a run that timed out may still be pending. Its request ends with this answer,
    // and that ends its timers and I/O; a reused isolate is also replaced, so whatever the runtime
    // might still hold of it cannot meet a later execution (docs/isolates.md).
    if (reused && timedOut) abortIsolate("an execution timed out in this isolate");
    return envelope(body, run.buf, run.dropped);
  }
}

/**
 * Installs what guest code reaches of the harness, seals the isolate before any of it runs, and
 * answers the isolate's entrypoint. Called by the main module once the user's module is loaded.
 */
export function start(
  main: UserMain,
  imported: string[],
  how: { reused: boolean; seal: Seal },
): typeof Harness {
  userMain = main;
  reused = how.reused;
  defineProperty(globalThis, "input", { get: () => currentRun()?.input, enumerable: true });
  (globalThis as { console: unknown }).console = consoleObject;
  globalThis.fetch = guestFetch;
  const roots: unknown[] = [consoleObject, ...standInNamespaces()];
  if (reused) {
    guardProcess();
    // node:process exports the runtime's stdio streams by name, out of reach from `process`.
    roots.push(...perRunProcess());
  }
  how.seal({ load: builtinModule, roots, imported });
  return Harness;
}
