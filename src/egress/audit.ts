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

/** An execution in flight, as the gateway sees it. */
export interface InFlight {
  readonly token: string;
  readonly context: ExecutionEgress;
  readonly attempts: EgressAttempt[];
  /** Attempts that left (what the subrequest cap counts). */
  allowed: number;
  requestBytes: number;
  responseBytes: number;
  /** Denied attempts past the audit's size cap: counted, not listed. */
  unlisted: number;
  /** Made on first use (most executions make no request): see `executionSignal`. */
  abort?: AbortController;
  isolate?: string;
  /** Told of each attempt as it is recorded (streamed executions). */
  readonly onAttempt?: (attempt: EgressAttempt) => void;
}

// The control plane runs in one isolate: every gateway call of an execution in flight finds its
// context and audit here until the execution collects it.
const inFlight = new Map<string, InFlight>();

/**
 * Starts the audit of an execution with the policy, secrets and caps its requests go through;
 * returns the token its runner must show to use the gateway.
 */
export function openAudit(
  executionId: string,
  context: ExecutionEgress = NO_EGRESS,
  onAttempt?: (attempt: EgressAttempt) => void,
): string {
  const token = crypto.randomUUID();
  inFlight.set(executionId, {
    token,
    context,
    attempts: [],
    allowed: 0,
    requestBytes: 0,
    responseBytes: 0,
    unlisted: 0,
    ...(onAttempt ? { onAttempt } : {}),
  });
  return token;
}

/**
 * Names the guest isolate an execution runs in, so an attempt that bypasses the harness (and so
 * reaches the isolate's deny-all global outbound, which knows no execution) is still audited.
 */
export function trackIsolate(executionId: string, isolate: string): void {
  const run = inFlight.get(executionId);
  if (run) run.isolate = isolate;
}

/** Aborted when the execution ends: its in-flight requests and sockets stop with it. */
export function executionSignal(run: InFlight): AbortSignal {
  run.abort ??= new AbortController();
  return run.abort.signal;
}

/** The execution in flight with this id, if any. */
export function execution(executionId: string): InFlight | undefined {
  return executionId === "" ? undefined : inFlight.get(executionId);
}

/** True if `token` is the egress token of an execution still running. */
export function validEgressToken(executionId: string, token: string): boolean {
  const run = execution(executionId);
  return run !== undefined && run.token === token;
}

/**
 * Appends an attempt to an execution's audit, if the execution is still running, and returns
 * it: the gateway fills in status, bytes and ms as the request goes on.
 */
export function recordAttempt(executionId: string, attempt: EgressAttempt): EgressAttempt {
  const run = inFlight.get(executionId);
  if (run) push(run, attempt);
  return attempt;
}

/**
 * A loop of denied fetches would grow the audit without end (each costs the guest little), so
 * past MAX_AUDIT_ENTRIES denied attempts are counted instead of listed. Allowed ones are always
 * listed: the subrequest cap bounds them.
 */
function push(run: InFlight, attempt: EgressAttempt): void {
  if (attempt.decision === "denied" && run.attempts.length >= MAX_AUDIT_ENTRIES) run.unlisted++;
  else {
    run.attempts.push(attempt);
    // A copy as decided: status, bytes and ms are filled in later, in the final result.
    run.onAttempt?.({ ...attempt });
  }
}

/** Records an attempt that bypassed the harness in every running execution of that isolate. */
export function recordBypass(isolate: string, attempt: EgressAttempt): void {
  if (isolate === "") return;
  for (const run of inFlight.values()) {
    if (run.isolate === isolate) push(run, { ...attempt });
  }
}

/** Ends the audit of an execution, stops its requests and returns its attempts in order. */
export function closeAudit(executionId: string): EgressAttempt[] {
  const run = inFlight.get(executionId);
  inFlight.delete(executionId);
  if (!run) return [];
  run.abort?.abort(new Error("the execution has ended"));
  // A snapshot: streams still draining must not change a result already handed out.
  const attempts = run.attempts.map((attempt) => ({ ...attempt }));
  if (run.unlisted > 0) {
    attempts.push({
      method: "*",
      url: "*",
      decision: "denied",
      reason: `${run.unlisted} more denied attempts are not listed (the audit lists at most ${MAX_AUDIT_ENTRIES})`,
    });
  }
  return attempts;
}
