import { DEFAULT_EGRESS_CAPS, type EgressCaps, MAX_AUDIT_ENTRIES } from "../config";
import type { SecretPlace } from "../schemas/policy";
import type { EgressPolicy } from "./policy";

/** One outbound attempt as the execution result reports it. */
export interface EgressAttempt {
  method: string;
  url: string;
  decision: "allowed" | "denied";
  reason: string;
  status?: number;
  bytes?: number;
  ms?: number;
}

/** A tenant secret as the gateway uses it: the guest only ever sees `placeholder`. */
export interface EgressSecret {
  name: string;
  value: string;
  /** Egress rule syntax: requests these rules allow get the real value. */
  hosts: string[];
  /** Where in a request the value may be put. */
  in: SecretPlace[];
  placeholder: string;
}

/** What the gateway needs to decide, rewrite and cap the outbound requests of one execution. */
export interface ExecutionEgress {
  /** Every layer must allow a request: tenant policy, session policy, the request's allow list. */
  layers: EgressPolicy[];
  secrets: EgressSecret[];
  /** CORDON_ALLOW_PRIVATE_EGRESS=1: rules may open private, loopback and metadata addresses. */
  allowPrivate: boolean;
  caps: EgressCaps;
}

/** Deny everything: what an execution gets when its caller passed no egress context. */
export const NO_EGRESS: ExecutionEgress = {
  layers: [],
  secrets: [],
  allowPrivate: false,
  caps: DEFAULT_EGRESS_CAPS,
};

/**
 * One execution's egress while it runs: its policy, secrets and caps, what it has spent of them,
 * and its audit. Made by the executor for the execution and handed to the gateway with each of
 * its requests (through the execution's capabilities, src/sandbox/capabilities.ts), so nothing
 * needs to find it by the execution's id.
 */
export class InFlight {
  readonly context: ExecutionEgress;
  readonly attempts: EgressAttempt[] = [];
  /** Attempts that left (what the subrequest cap counts). */
  allowed = 0;
  requestBytes = 0;
  responseBytes = 0;
  /** Denied attempts past the audit's size cap: counted, not listed. */
  unlisted = 0;
  /** Made on first use (most executions make no request): see `signal`. */
  #abort: AbortController | undefined;
  #closed = false;
  /** Told of each attempt as it is recorded (streamed executions). */
  readonly #onAttempt: ((attempt: EgressAttempt) => void) | undefined;

  constructor(context: ExecutionEgress = NO_EGRESS, onAttempt?: (attempt: EgressAttempt) => void) {
    this.context = context;
    this.#onAttempt = onAttempt;
  }

  /** False once the execution has ended: the gateway then treats a request as coming from no one. */
  get open(): boolean {
    return !this.#closed;
  }

  /** True if nothing of the execution has reached the outside, not even a denied attempt. */
  get untouched(): boolean {
    return this.attempts.length === 0 && this.unlisted === 0;
  }

  /** Aborted when the execution ends: its in-flight requests and sockets stop with it. */
  signal(): AbortSignal {
    this.#abort ??= new AbortController();
    return this.#abort.signal;
  }

  /**
   * Appends an attempt to the audit, if the execution is still running, and returns it: the
   * gateway fills in status, bytes and ms as the request goes on.
   *
   * A loop of denied fetches would grow the audit without end (each costs the guest little), so
   * past MAX_AUDIT_ENTRIES denied attempts are counted instead of listed. Allowed ones are always
   * listed: the subrequest cap bounds them.
   */
  record(attempt: EgressAttempt): EgressAttempt {
    if (this.#closed) return attempt;
    if (attempt.decision === "denied" && this.attempts.length >= MAX_AUDIT_ENTRIES) {
      this.unlisted++;
    } else {
      this.attempts.push(attempt);
      // A copy as decided: status, bytes and ms are filled in later, in the final result.
      this.#onAttempt?.({ ...attempt });
    }
    return attempt;
  }

  /** Ends the audit, stops the execution's requests and returns its attempts in order. */
  close(): EgressAttempt[] {
    if (this.#closed) return [];
    this.#closed = true;
    this.#abort?.abort(new Error("the execution has ended"));
    // A snapshot: streams still draining must not change a result already handed out.
    const attempts = this.attempts.map((attempt) => ({ ...attempt }));
    if (this.unlisted > 0) {
      attempts.push({
        method: "*",
        url: "*",
        decision: "denied",
        reason: `${this.unlisted} more denied attempts are not listed (the audit lists at most ${MAX_AUDIT_ENTRIES})`,
      });
    }
    return attempts;
  }
}

// Two registries remain, for the two ways in that cannot carry an execution's state with them.
// The control plane runs in one isolate, so each is one map.

/**
 * Executions running in each guest isolate, by isolate key. An isolate's global outbound (which
 * only sees requests that went around fetch() and connect()) is fixed when the isolate is made and
 * serves every later execution in it; an attempt that reaches it is audited in each execution
 * running there.
 */
const byIsolate = new Map<string, Set<InFlight>>();

/** Counts `run` as running in `isolate` until the function answered is called. */
export function trackIsolate(isolate: string, run: InFlight): () => void {
  let runs = byIsolate.get(isolate);
  if (runs === undefined) {
    runs = new Set();
    byIsolate.set(isolate, runs);
  }
  runs.add(run);
  return () => {
    runs.delete(run);
    if (runs.size === 0 && byIsolate.get(isolate) === runs) byIsolate.delete(isolate);
  };
}

/** Records an attempt that bypassed the harness in every running execution of that isolate. */
export function recordBypass(isolate: string, attempt: EgressAttempt): void {
  if (isolate === "") return;
  for (const run of byIsolate.get(isolate) ?? []) run.record({ ...attempt });
}

/**
 * Executions handed to runner processes, by execution id, with the token their runner shows: a
 * runner forwards each guest request over its socket to the control plane (src/runner), and only
 * the id and token travel with it. Nothing else finds an execution by its id.
 */
const onRunners = new Map<string, { token: string; run: InFlight }>();

/** Lets a runner's requests for `executionId` spend `run`'s egress; answers the token to show. */
export function openRunnerEgress(executionId: string, run: InFlight): string {
  const token = crypto.randomUUID();
  onRunners.set(executionId, { token, run });
  return token;
}

/** Ends what `openRunnerEgress` opened. */
export function closeRunnerEgress(executionId: string): void {
  onRunners.delete(executionId);
}

/** The execution a runner's request names, if it is running there and the token is its own. */
export function runnerEgress(executionId: string, token: string): InFlight | undefined {
  const found = onRunners.get(executionId);
  return found !== undefined && found.token === token && found.run.open ? found.run : undefined;
}

/** The execution on a runner with this id, if any (what a runner's request would find). */
export function execution(executionId: string): InFlight | undefined {
  return onRunners.get(executionId)?.run;
}
