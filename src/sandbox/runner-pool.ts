import { Lru } from "../cache";
import {
  EGRESS_HEADERS,
  fitsHeader,
  JOB_HEADER,
  OUTCOME_HEADER,
  type RunLine,
  type RunRequest,
} from "../runner/protocol";
import {
  type Backend,
  CANCELLED,
  GRACE_MS,
  type Outcome,
  type RunMeta,
  withDeadline,
} from "./backend";
import { compileCostMs } from "./compile-job";
import type { GuestJob, LogReceiver } from "./guest";

export { EGRESS_HEADERS };

interface RunnerState {
  inFlight: number;
  /** Estimated runner CPU, in milliseconds, of the runs in flight there. */
  load: number;
  /** When the runner last answered anything, or took work while it had none. */
  quietSince: number;
}

// One control-plane isolate routes every execution, so the pool's view lives here.
const states: RunnerState[] = [];
/** Code hashes this control plane has run: their runs likely find a warm isolate. */
const seen = new Lru<string, true>(4096);

/**
 * Estimated runner CPU of a run, in ms: a warm isolate's run costs about half a millisecond on the
 * 2-core reference machine, making a fresh isolate about 16 (docs/self-hosting.md).
 */
const WARM_COST = 0.5;
const FRESH_COST = 16;
/** The backlog a runner takes before the next runner is asked to share the work. */
const BACKLOG_MS = 16;
/** A runner with work in flight that has answered nothing for this long gets no more work. */
const STALL_MS = 100;

/** How long a run waits before trying again when its runner is restarting. */
const RETRY_MS = 25;

/**
 * Turns for runs whose runner compiles their code first (large code, hundreds of milliseconds
 * of a runner's only thread): at most all runners but one hold one, so one runner stays free of
 * them for everyone else's runs. Turns are handed out in arrival order.
 */
class Turns {
  #taken = 0;
  readonly #waiting: (() => void)[] = [];

  /** Resolves true once the caller holds a turn, false if `ms` pass or `signal` aborts first. */
  take(limit: number, ms: number, signal?: AbortSignal): Promise<boolean> {
    if (this.#taken < limit && this.#waiting.length === 0) {
      this.#taken++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const settle = (granted: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", giveUp);
        resolve(granted);
      };
      const grant = () => settle(true);
      const giveUp = () => {
        const at = this.#waiting.indexOf(grant);
        if (at >= 0) this.#waiting.splice(at, 1);
        settle(false);
      };
      const timer = setTimeout(giveUp, ms);
      signal?.addEventListener("abort", giveUp);
      this.#waiting.push(grant);
    });
  }

  /** Ends a turn: the next waiting caller gets it. */
  give(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#taken--;
  }
}
const compileTurns = new Turns();

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
    while (states.length < runners.length) states.push({ inFlight: 0, load: 0, quietSince: 0 });
  }

  async run(
    job: GuestJob,
    meta: RunMeta,
    sink: LogReceiver,
    signal?: AbortSignal,
  ): Promise<Outcome> {
    if (!job.compile) return this.#run(job, meta, sink, signal);
    const limit = Math.max(1, this.#runners.length - 1);
    const waitMs = job.limits.timeoutMs + GRACE_MS + 4 * compileCostMs(job.compile);
    if (!(await compileTurns.take(limit, waitMs, signal))) {
      return signal?.aborted ? CANCELLED : { kind: "timeout" };
    }
    try {
      return await this.#run(job, meta, sink, signal);
    } finally {
      compileTurns.give();
    }
  }

  async #run(
    job: GuestJob,
    meta: RunMeta,
    sink: LogReceiver,
    signal?: AbortSignal,
  ): Promise<Outcome> {
    const body = JSON.stringify({ job, ...meta } satisfies RunRequest);
    // A runner that compiles the code first (large code) needs that long more; four times the
    // estimate, so only a runner that is truly stuck counts as hung.
    const compiling = compileCostMs(job.compile);
    const deadline = Date.now() + job.limits.timeoutMs + GRACE_MS + 4 * compiling;
    const cost = (seen.get(job.hash) ? WARM_COST : FRESH_COST) + compiling;
    seen.set(job.hash, true);
    while (Date.now() < deadline && !signal?.aborted) {
      const index = this.#pick(cost);
      const state = states[index] as RunnerState;
      const controller = new AbortController();
      // Dropping the connection makes the runner's next write fail, which cancels the run there.
      const cancel = () => controller.abort();
      signal?.addEventListener("abort", cancel);
      if (state.inFlight === 0) state.quietSince = Date.now();
      state.inFlight++;
      state.load += cost;
      let outcome: Outcome | "unreachable";
      try {
        // The deadline covers the whole exchange: a runner frozen by its guest may not even
        // send the answer's headers.
        outcome = await withDeadline(
          attempt(this.#runners[index] as Fetcher, body, sink, controller.signal, state),
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
        state.load -= cost;
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

  /**
   * Where a run of estimated `cost` goes: to the first runner, in a fixed order, that is not
   * stalled and has room for it in its backlog, so that light (warm) runs gather in one process,
   * which then serves each wake-up's runs together; past that, to the least loaded runner that
   * is not stalled (heavy, fresh runs spread over every core); if all are stalled, to the least
   * loaded of all. A runner stalls when hostile code freezes it, until it is restarted.
   */
  #pick(cost: number): number {
    const now = Date.now();
    let best = -1;
    let lightest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.#runners.length; i++) {
      const state = states[i] as RunnerState;
      if (state.inFlight > 0 && now - state.quietSince > STALL_MS) continue;
      if (state.load + cost <= BACKLOG_MS) return i;
      if (state.load < lightest) {
        best = i;
        lightest = state.load;
      }
    }
    if (best >= 0) return best;
    for (let i = 0; i < this.#runners.length; i++) {
      const load = (states[i] as RunnerState).load;
      if (load < lightest) {
        best = i;
        lightest = load;
      }
    }
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
  state: RunnerState,
): Promise<Outcome | "unreachable"> {
  let response: Response;
  try {
    response = await runner.fetch(
      "http://runner/run",
      fitsHeader(body)
        ? { method: "POST", headers: { [JOB_HEADER]: body }, signal }
        : { method: "POST", body, signal },
    );
  } catch {
    return "unreachable";
  }
  return (
    (await readLines(response, sink, state)) ?? {
      kind: "killed",
      reason:
        "the runner process hosting this execution died (it ran out of memory or crashed) and was restarted",
    }
  );
}

/** Reads a runner's answer stream; resolves with no outcome if the stream broke off. */
async function readLines(
  response: Response,
  sink: LogReceiver,
  state: RunnerState,
): Promise<Outcome | undefined> {
  if (!response.ok) return undefined;
  try {
    const head = response.headers.get(OUTCOME_HEADER);
    if (head !== null) {
      state.quietSince = Date.now();
      return final(JSON.parse(head) as RunLine, sink);
    }
    if (!response.body) return undefined;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    // A line can be megabytes (a session's variables): each chunk is searched once, and the
    // parts of a line are joined once, when it ends.
    let line: string[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      state.quietSince = Date.now();
      if (done) return undefined;
      let text = decoder.decode(value, { stream: true });
      let newline = text.indexOf("\n");
      while (newline >= 0) {
        line.push(text.slice(0, newline));
        const outcome = final(JSON.parse(line.join("")) as RunLine, sink);
        if (outcome) return outcome;
        line = [];
        text = text.slice(newline + 1);
        newline = text.indexOf("\n");
      }
      line.push(text);
    }
  } catch {
    return undefined;
  }
}

/** The outcome a line reports, if it is the last one; forwards console output to the sink. */
function final(line: RunLine, sink: LogReceiver): Outcome | undefined {
  if ("k" in line) return undefined;
  if ("l" in line) {
    sink.log(line.l, line.d);
    return undefined;
  }
  if ("e" in line) return { kind: "envelope", envelope: line.e };
  if ("t" in line) return { kind: "timeout" };
  return { kind: "failed", name: line.n, message: line.f };
}
