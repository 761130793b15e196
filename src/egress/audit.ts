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

interface Audit {
  token: string;
  attempts: EgressAttempt[];
}

// The control plane runs in one isolate: every gateway call of an execution in flight finds its
// audit here until the execution collects it.
const inFlight = new Map<string, Audit>();

/** Starts the audit of an execution; returns the token its runner must show to use the gateway. */
export function openAudit(executionId: string): string {
  const token = crypto.randomUUID();
  inFlight.set(executionId, { token, attempts: [] });
  return token;
}

/** True if `token` is the egress token of an execution still running. */
export function validEgressToken(executionId: string, token: string): boolean {
  const audit = inFlight.get(executionId);
  return audit !== undefined && audit.token === token;
}

/** Appends an attempt to an execution's audit, if the execution is still running. */
export function recordAttempt(executionId: string, attempt: EgressAttempt): void {
  inFlight.get(executionId)?.attempts.push(attempt);
}

/** Ends the audit of an execution and returns its attempts in order. */
export function closeAudit(executionId: string): EgressAttempt[] {
  const attempts = inFlight.get(executionId)?.attempts ?? [];
  inFlight.delete(executionId);
  return attempts;
}
