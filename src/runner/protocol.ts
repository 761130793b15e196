import type { GuestJob } from "../sandbox/guest";
import type { Envelope } from "../sandbox/runtimes/types";

/** `POST /run` from the control plane to a runner: in its `cordon-job` header, or its body. */
export interface RunRequest {
  job: GuestJob;
  executionId: string;
  egressToken: string;
}

/**
 * A runner answers `POST /run` with newline-delimited JSON, flushed as it happens:
 * `{"l": batch, "d": dropped}` for console output, `{"k": 1}` as a heartbeat every
 * `HEARTBEAT_MS` while the run lasts (a failed write tells the runner its caller went away; the
 * control plane learns the runner is alive), then exactly one of
 * `{"e": envelope}` (the harness answered), `{"t": 1}` (the deadline passed while the code
 * waited) or `{"f": message, "n": name}` (the isolate could not start).
 * A run that ended before it had anything to stream is answered in one piece: its last line
 * without the newline in the `cordon-outcome` header (short printable ASCII lines) or as the body.
 */
export type RunLine =
  | { l: string; d: number }
  | { k: 1 }
  | { e: Envelope }
  | { t: 1 }
  | { f: string; n: string };

/** How often a run in progress writes a heartbeat line (the first one opens the stream). */
export const HEARTBEAT_MS = 200;

/** The header that carries a one-piece answer's outcome line. */
export const OUTCOME_HEADER = "cordon-outcome";

/** The header that carries a short `RunRequest` (then the request has no body). */
export const JOB_HEADER = "cordon-job";

/** Text up to this long, printable ASCII only, may travel in a header instead of a body. */
export const MAX_HEADER_TEXT = 8192;
const PRINTABLE = /^[\x20-\x7e]*$/;

/** Whether `text` may be a header value: reading a body costs both processes more. */
export function fitsHeader(text: string): boolean {
  return text.length <= MAX_HEADER_TEXT && PRINTABLE.test(text);
}

/** Headers the runner adds when it forwards a guest's request to the control plane. */
export const EGRESS_HEADERS = {
  execution: "cordon-execution",
  token: "cordon-egress-token",
  target: "cordon-target-url",
  /** Set (instead of an execution) by an isolate's global outbound, for the audit of bypasses. */
  isolate: "cordon-isolate",
} as const;

/**
 * Where a runner sends a guest's tool call on its hop to the control plane: `POST` with the
 * execution's id and egress token in `EGRESS_HEADERS` and the JSON body `{ n, t, a }` (namespace,
 * tool, the argument's JSON text); the answer's body is what the capability answers the guest.
 */
export const TOOL_CALL_PATH = "/tool-call";
