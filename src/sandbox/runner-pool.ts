import { EGRESS_HEADERS, type RunLine, type RunRequest } from "../runner/protocol";
import {
  type Backend,
  CANCELLED,
  GRACE_MS,
  type Outcome,
  type RunMeta,
  withDeadline,
} from "./backend";
import type { GuestJob, LogReceiver } from "./guest";

export { EGRESS_HEADERS };

interface RunnerState {
  inFlight: number;
}

// One control-plane isolate routes every execution, so the pool's view lives here.
const states: RunnerState[] = [];
let nextStart = 0;

/** How long a run waits before trying again when its runner is restarting. */
const RETRY_MS = 25;

/**
 * Runs guests in separate runner processes (the self-hosted runtime). A runner that does not
 * answer by the deadline plus a grace period is hung by code that never yields: the supervisor
 * restarts it and its runs end as `killed`, while other runners carry on.
 */
export class RunnerPool implements Backend {
  readonly #runners: Fetcher[];
  readonly #supervisor: Fetcher;

  constructor(runners: Fetcher[], supervisor: Fetcher) {
    this.#runners = runners;
    this.#supervisor = supervisor;
    while (states.length < runners.length) states.push({ inFlight: 0 });
  }

  async run(
    job: GuestJob,
    meta: RunMeta,
    sink: LogReceiver,
    signal?: AbortSignal,
  ): Promise<Outcome> {
    const body = JSON.stringify({ job, ...meta } satisfies RunRequest);
    const deadline = Date.now() + job.limits.timeoutMs + GRACE_MS;
    while (Date.now() < deadline && !signal?.aborted) {
      const index = this.#pick();
      const state = states[index] as RunnerState;
      const controller = new AbortController();
      // Dropping the connection makes the runner's next write fail, which cancels the run there.
      const cancel = () => controller.abort();
      signal?.addEventListener("abort", cancel);
      state.inFlight++;
      let outcome: Outcome | "unreachable";
      try {
        // The deadline covers the whole exchange: a runner frozen by its guest may not even
        // send the answer's headers.
        outcome = await withDeadline(
          attempt(this.#runners[index] as Fetcher, body, sink, controller.signal),
          deadline - Date.now(),
          (): Outcome | "unreachable" => {
            controller.abort();
            this.#restart(index, meta.executionId);
            return {
              kind: "killed",
              reason:
                "the execution kept its runner busy past its deadline without yielding, so the runner was restarted",
            };
          },
        );
      } finally {
        state.inFlight--;
        signal?.removeEventListener("abort", cancel);
      }
      if (signal?.aborted) break;
      if (outcome !== "unreachable") return outcome;
      // The runner is restarting. Waiting for it beats sharing a runner that may be busy with
      // hostile code; the run never reached it, so trying again is safe.
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
    if (signal?.aborted) return CANCELLED;
    return { kind: "killed", reason: "no runner process became available before the deadline" };
  }

  /** The least busy runner, ties going round-robin. */
  #pick(): number {
    let best = 0;
    let fewest = Number.POSITIVE_INFINITY;
    for (let k = 0; k < this.#runners.length; k++) {
      const i = (nextStart + k) % this.#runners.length;
      const inFlight = states[i]?.inFlight ?? 0;
      if (inFlight < fewest) {
        best = i;
        fewest = inFlight;
      }
    }
    nextStart = (best + 1) % this.#runners.length;
    return best;
  }

  #restart(index: number, executionId: string): void {
    // The caller's answer must not wait for the restart; a failed request is retried by the
    // supervisor's own health checks.
    void this.#supervisor
      .fetch(`http://supervisor/runners/${index}/restart`, { method: "POST", body: executionId })
      .catch(() => {});
  }
}

/** One try on one runner; "unreachable" if the run never reached it (it is restarting). */
async function attempt(
  runner: Fetcher,
  body: string,
  sink: LogReceiver,
  signal: AbortSignal,
): Promise<Outcome | "unreachable"> {
  let response: Response;
  try {
    response = await runner.fetch("http://runner/run", { method: "POST", body, signal });
  } catch {
    return "unreachable";
  }
  return (
    (await readLines(response, sink)) ?? {
      kind: "killed",
      reason:
        "the runner process hosting this execution died (it ran out of memory or crashed) and was restarted",
    }
  );
}

/** Reads a runner's answer stream; resolves with no outcome if the stream broke off. */
async function readLines(response: Response, sink: LogReceiver): Promise<Outcome | undefined> {
  if (!response.ok || !response.body) return undefined;
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return undefined;
      buffer += decoder.decode(value, { stream: true });
      let newline = buffer.indexOf("\n");
      while (newline >= 0) {
        const line = JSON.parse(buffer.slice(0, newline)) as RunLine;
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf("\n");
        if ("k" in line) continue;
        if ("l" in line) sink.log(line.l, line.d);
        else if ("e" in line) return { kind: "envelope", envelope: line.e };
        else if ("t" in line) return { kind: "timeout" };
        else return { kind: "failed", name: line.n, message: line.f };
      }
    }
  } catch {
    return undefined;
  }
}
