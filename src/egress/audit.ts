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

// Gateways run in the same isolate as the execution that created them, so the audit of each
// execution in flight is kept here until the execution collects it.
const inFlight = new Map<string, EgressAttempt[]>();

/** Starts the audit of an execution. */
export function openAudit(executionId: string): void {
  inFlight.set(executionId, []);
}

/** Appends an attempt to an execution's audit, if the execution is still running. */
export function recordAttempt(executionId: string, attempt: EgressAttempt): void {
  inFlight.get(executionId)?.push(attempt);
}

/** Ends the audit of an execution and returns its attempts in order. */
export function closeAudit(executionId: string): EgressAttempt[] {
  const attempts = inFlight.get(executionId) ?? [];
  inFlight.delete(executionId);
  return attempts;
}
