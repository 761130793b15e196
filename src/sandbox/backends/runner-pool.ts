import { Lru } from "../../cache";
import { DEFAULT_TENANT_LIMITS } from "../../config";
import { closeRunnerEgress, openRunnerEgress } from "../../egress/audit";
import { LineSplitter } from "../../runner/lines";
import {
  fitsHeader,
  HEARTBEAT_MS,
  JOB_HEADER,
  OUTCOME_HEADER,
  type RunLine,
  type RunRequest,
} from "../../runner/protocol";
import type { Execution } from "../capabilities";
import type { GuestJob } from "../guest";
import type { LogSink } from "../logs";
import { runtimeOf } from "../runtimes";
import { type Backend, CANCELLED, GRACE_MS, type Outcome, withDeadline } from "./backend";

/** One execution's stay on one runner process. */
interface Stay {
  readonly executionId: string;
  readonly dispatchedAt: number;
  /** The execution's memory limit (the tenant's). */
  readonly memoryMb: number;
  /**
   * What the run costs its runner besides the code's own `memoryMb`: carrying its session's state
   * in and out, and its runtime's work first (compiling large code).
   */
  readonly carriedMb: number;
  /** What its runtime takes in the process besides what the code uses (GuestRuntime.memoryMb). */
  readonly runtimeMb: number;
  /** Another execution was on the same process at some time during this stay. */
  shared: boolean;
}

/** How a runner process was lost. */
interface Loss {
  cause: "hung" | "memory" | "crashed";
  /** What happened, in words, for the answers of the executions that were on it. */
  detail: string;
  /** For a memory loss the control plane measured: how much the process grew, in MB. */
  grownMb?: number;
  /** The stay charged with the loss, when the control plane knows it (a deadline it saw pass). */
  culprit?: Stay;
}

/** One runner process, from its start to its loss. */
class Generation {
  readonly stays = new Set<Stay>();
  loss?: Loss;
  /** Code sent here that may have made a warm isolate (which stays), with when it first came. */
  readonly warmed = new Map<string, number>();
  /** Runtimes a run sent here may have started (their `memoryMb.start` is spent once). */
  readonly started = new Set<string>();
}

interface RunnerState {
  inFlight: number;
  /** Runs in flight that hold a heavy turn (see Turns): a run sent here waits behind them. */
  turns: number;
  /** Estimated runner CPU, in milliseconds, of the runs in flight there. */
  load: number;
  /** When the runner last answered anything, or took work while it had none. */
  quietSince: number;
  generation: Generation;
  /** Kept for a run that must run alone (a suspect of a loss): nothing else is sent there. */
  reserved: boolean;
  /** Restarting: the old process may still be there, so nothing is sent there. */
  restarting: boolean;
  /** When this runner's memory was last sampled. */
  sampledAt: number;
}

// One control-plane isolate routes every execution, so the pool's view lives here.
const states: RunnerState[] = [];
/** Code hashes this control plane has run: their runs likely find a warm isolate. */
const seen = new Lru<string, true>(4096);
/**
 * Where the heavy reused isolates are (GuestRuntime.heavyPerProcess: a session's Python
 * interpreter): the runner a run for one last answered from, and that runner's generation.
 */
const homes = new Lru<string, { index: number; generation: Generation }>(1024);

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
/** How long a run waits before trying again when no runner can take it. */
const RETRY_MS = 25;

/**
 * A live runner with runs in flight writes something at least every HEARTBEAT_MS; one silent
 * for longer than this before a run was sent to it was frozen before that run could start.
 */
const INNOCENCE_MS = 2.5 * HEARTBEAT_MS;

/** How often the memory of a runner with runs in flight is checked against their limits. */
const MEMORY_SAMPLE_MS = 50;
/** Memory a runner process may grow by besides its runs' limits: its own work for them. */
const MEMORY_SLACK_MB = 32;
/**
 * What a warm isolate made during a run keeps after it, counted high: about 7.4 MB measured
 * since reused isolates are sealed (docs/isolates.md).
 */
const WARM_ISOLATE_MB = 10;
/**
 * What a runner holds per MB of a session's state (files as base64, carried values) while one of
 * its runs goes in and comes out: the job's text and its parse, the copy into the isolate, the
 * decoded workspace and the envelope back, each with the engine's heap headroom. A session at its
 * 10 MiB of files grew a runner by 183 MB for `1 + 1`: none of that is the code's own memory.
 */
const CARRIED_STATE_FACTOR = 16;

/** The runner memory, in MB, that `job`'s session state costs besides the code's own. */
function carriedMb(job: GuestJob): number {
  if (!job.session) return 0;
  let chars = 0;
  for (const value of Object.values(job.session.values)) chars += value.length;
  for (const file of job.session.files) chars += file.data.length;
  return Math.ceil((chars / MiB) * CARRIED_STATE_FACTOR);
}
/** How long a broken stream waits for the supervisor to confirm its runner's exit. */
const CONFIRM_EXIT_MS = 500;
const MiB = 2 ** 20;

/** A runner process's exit, as the supervisor saw it (`memory`: over the ceiling). */
interface RunnerExit {
  at: number;
  reason: string;
  memory: boolean;
}

/** What one try on one runner came to. */
type Try =
  | Outcome
  | { kind: "unreachable" }
  | { kind: "lost"; loss: Loss; stay: Stay }
  /** `unanswered`: the connection broke before the runner answered anything. */
  | { kind: "broken"; unanswered?: boolean };

/**
 * Turns for runs whose runner does heavy work before the run: compiling large code, making or
 * restoring a runtime (Python), hundreds of milliseconds of a runner's only thread. At most all
 * runners but one hold one, so at any time one runner is free of them for everyone else's runs.
 * Turns are handed out in arrival order.
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
const heavyTurns = new Turns();

/**
 * Runs guests in separate runner processes (the self-hosted runtime). A runner that does not
 * answer by a run's deadline plus a grace period is hung by code that never yields, and one
 * whose memory grows past what its runs may use is restarted for that: only the execution that
 * caused the loss is charged; the others that were on it run again elsewhere, or end `killed`
 * without blame when they had already reached out (docs/self-hosting.md, "Attribution").
 */
export class RunnerPool implements Backend {
  readonly #runners: Fetcher[];
  readonly #supervisor: Fetcher;
  readonly #maxWarm: number;

  constructor(runners: Fetcher[], supervisor: Fetcher, maxWarm = 64) {
    this.#runners = runners;
    this.#supervisor = supervisor;
    this.#maxWarm = maxWarm;
    while (states.length < runners.length) {
      states.push({
        inFlight: 0,
        turns: 0,
        load: 0,
        quietSince: 0,
        generation: new Generation(),
        reserved: false,
        restarting: false,
        sampledAt: 0,
      });
    }
  }

  async run(job: GuestJob, execution: Execution, signal?: AbortSignal): Promise<Outcome> {
    // The runner's requests for this execution reach its egress through the control plane's
    // ingress, which knows it by id and token only while it runs.
    const meta: RunMeta = {
      executionId: execution.id,
      egressToken: openRunnerEgress(execution.id, execution.egress),
    };
    try {
      const runtime = runtimeOf(job.program);
      const compiling = runtime.setupCostMs(job.program);
      if (compiling === 0) return await this.#run(job, execution, meta, compiling, signal);
      // A runtime a runner has started only restarts there (Python: a restore from its snapshot,
      // not the snapshot's making).
      const restarting = runtime.setupCostMs(job.program, true);
      const home = this.#home(job);
      if (home >= 0) {
        // Its isolate is most likely there, kept: a warm run.
        const place = { index: home, cost: WARM_COST };
        return await this.#run(job, execution, meta, restarting, signal, { place });
      }
      const restart = FRESH_COST + restarting;
      const restartable = restarting < compiling;
      const setup =
        restartable && this.#started(runtime.name, restart) >= 0 ? restarting : compiling;
      const limit = Math.max(1, this.#runners.length - 1);
      const waitMs = job.limits.timeoutMs + GRACE_MS + 4 * setup;
      if (!(await heavyTurns.take(limit, waitMs, signal))) {
        return signal?.aborted ? CANCELLED : { kind: "timeout" };
      }
      try {
        const ready = restartable ? this.#started(runtime.name, restart) : -1;
        if (ready >= 0) {
          const place = { index: ready, cost: restart };
          return await this.#run(job, execution, meta, restarting, signal, { place, turn: true });
        }
        return await this.#run(job, execution, meta, compiling, signal, { turn: true });
      } finally {
        heavyTurns.give();
      }
    } finally {
      closeRunnerEgress(execution.id);
    }
  }

  /**
   * The runner holding `job`'s heavy reused isolate, if it can take the run now; else -1 (the
   * run goes where any other would, and makes its isolate there).
   */
  #home(job: GuestJob): number {
    const runtime = runtimeOf(job.program);
    if (runtime.heavyPerProcess === undefined || !runtime.reusable(job.program)) return -1;
    const home = homes.get(job.hash);
    const state = home && states[home.index];
    if (!home || !state || state.generation !== home.generation) return -1;
    if (state.reserved || state.restarting) return -1;
    if (state.inFlight > 0 && Date.now() - state.quietSince > STALL_MS) return -1;
    return home.index;
  }

  /**
   * Where a run that restarts runtime `name` goes: the least loaded runner that has started it and
   * can take work, unless that one is busy with runs of `cost` or more while a runner that has not
   * started it is free to (-1: that runner starts it, in a turn). At most all runners but one start
   * it, for its memory (a Python runner holds its snapshot and kept interpreters: hundreds of MB):
   * a limit that only a run finding every such runner stalled or restarting passes.
   */
  #started(name: string, cost: number): number {
    const now = Date.now();
    let best = -1;
    let lightest = Number.POSITIVE_INFINITY;
    let unstarted = false;
    let started = 0;
    for (let i = 0; i < this.#runners.length; i++) {
      const state = states[i] as RunnerState;
      if (state.generation.started.has(name)) started++;
      if (state.reserved || state.restarting) continue;
      if (state.inFlight > 0 && now - state.quietSince > STALL_MS) continue;
      if (!state.generation.started.has(name)) unstarted = true;
      else if (state.load < lightest) {
        best = i;
        lightest = state.load;
      }
    }
    const more = unstarted && lightest >= cost && started < this.#runners.length - 1;
    return more ? -1 : best;
  }

  /**
   * `compiling`: the runner's work before the run (compiling large code, restarting a runtime),
   * in ms. `place`: the runner tried first, and the run's estimated cost there. `turn`: the run
   * holds a heavy turn.
   */
  async #run(
    job: GuestJob,
    execution: Execution,
    meta: RunMeta,
    compiling: number,
    signal?: AbortSignal,
    { place, turn = false }: { place?: { index: number; cost: number }; turn?: boolean } = {},
  ): Promise<Outcome> {
    const sink = execution.logs;
    // A runner that compiles the code first (large code) needs that long more; four times the
    // estimate, so only a runner that is truly stuck counts as hung.
    const deadline = Date.now() + job.limits.timeoutMs + GRACE_MS + 4 * compiling;
    const warm = seen.get(job.hash) === true;
    const cost = place?.cost ?? (warm ? WARM_COST : FRESH_COST) + compiling;
    seen.set(job.hash, true);
    const runtime = runtimeOf(job.program);
    const heavy = runtime.heavyPerProcess !== undefined && runtime.reusable(job.program);
    let alone = false;
    let again = false;
    while (Date.now() < deadline && !signal?.aborted) {
      const index = alone
        ? await this.#reserve(deadline, signal)
        : place !== undefined && !again
          ? place.index
          : this.#pick(cost);
      if (index < 0) {
        await sleep(RETRY_MS);
        continue;
      }
      let tried: Try;
      try {
        tried = await this.#try(index, {
          job,
          meta,
          sink,
          signal,
          deadline,
          cost,
          warm,
          again,
          turn,
        });
      } finally {
        if (alone) (states[index] as RunnerState).reserved = false;
      }
      if (signal?.aborted) break;
      if (tried.kind === "unreachable") {
        // The runner is restarting and the run never reached it: trying again is safe.
        await sleep(RETRY_MS);
        continue;
      }
      if (tried.kind !== "lost") {
        if (tried.kind === "broken") return BROKEN;
        if (heavy)
          homes.set(job.hash, { index, generation: (states[index] as RunnerState).generation });
        return tried;
      }
      const verdict = judge(tried.stay, tried.loss);
      if (verdict.kind === "killed") return verdict;
      // Only an execution that has not reached the outside yet can safely run again.
      if (!execution.egress.untouched) return verdict.otherwise;
      sink.log(JSON.stringify({ level: "warn", message: verdict.note }), 0);
      alone ||= verdict.alone;
      again = true;
    }
    if (signal?.aborted) return CANCELLED;
    return { kind: "killed", reason: "no runner process became available before the deadline" };
  }

  /** One try of a run on runner `index`. */
  async #try(index: number, run: TryOptions): Promise<Try> {
    const state = states[index] as RunnerState;
    const generation = state.generation;
    const now = Date.now();
    const runtime = runtimeOf(run.job.program);
    let runtimeMb = runtime.memoryMb?.run ?? 0;
    if (runtime.memoryMb && !generation.started.has(runtime.name)) {
      generation.started.add(runtime.name);
      runtimeMb += runtime.memoryMb.start;
    }
    const stay: Stay = {
      executionId: run.meta.executionId,
      dispatchedAt: now,
      memoryMb: run.job.limits.memoryMb ?? DEFAULT_TENANT_LIMITS.memoryMb,
      carriedMb:
        carriedMb(run.job) + (runtimeOf(run.job.program).setupMemoryMb?.(run.job.program) ?? 0),
      runtimeMb,
      shared: generation.stays.size > 0,
    };
    for (const other of generation.stays) other.shared = true;
    generation.stays.add(stay);
    if (run.warm && !generation.warmed.has(run.job.hash)) {
      if (generation.warmed.size < 4 * this.#maxWarm) generation.warmed.set(run.job.hash, now);
    }
    const controller = new AbortController();
    // Dropping the connection makes the runner's next write fail, which cancels the run there.
    const cancel = () => controller.abort();
    run.signal?.addEventListener("abort", cancel);
    if (state.inFlight === 0) state.quietSince = now;
    state.inFlight++;
    state.load += run.cost;
    if (run.turn) state.turns++;
    const stopWatching = this.#watchMemory(index, generation);
    try {
      // The deadline covers the whole exchange: a runner frozen by its guest may not even send
      // the answer's headers.
      const exchanged = await withDeadline(
        exchange(
          this.#runners[index] as Fetcher,
          requestBody(run, now),
          run.sink,
          controller.signal,
          state,
        ),
        run.deadline - now,
        (): Try | "expired" => "expired",
      );
      if (run.signal?.aborted) return CANCELLED;
      if (exchanged === "expired") {
        controller.abort();
        return await this.#expire(index, generation, stay);
      }
      // A connect that failed while the process was being lost may have reached it first.
      if (exchanged.kind === "broken" || (exchanged.kind === "unreachable" && generation.loss)) {
        return await this.#lost(
          index,
          generation,
          stay,
          exchanged.kind === "broken" && exchanged.unanswered === true,
        );
      }
      return exchanged;
    } finally {
      await stopWatching();
      state.inFlight--;
      state.load -= run.cost;
      if (run.turn) state.turns--;
      generation.stays.delete(stay);
      run.signal?.removeEventListener("abort", cancel);
    }
  }

  /**
   * A run's deadline (plus grace) passed without an answer: its runner is frozen. The run is
   * charged and the runner restarted, unless the runner had been silent since before the run
   * was sent there: then another run froze it first and this one never started. That one is
   * left to be charged at its own deadline; only if no run in flight could have frozen it (work
   * left behind by an execution that already answered) is the runner restarted at once.
   */
  async #expire(index: number, generation: Generation, stay: Stay): Promise<Try> {
    if (generation.loss) return { kind: "lost", loss: generation.loss, stay };
    const frozenSince = (states[index] as RunnerState).quietSince;
    if (frozenSince + INNOCENCE_MS >= stay.dispatchedAt) {
      const loss = await this.#restart(index, generation, {
        cause: "hung",
        detail: `hung past the deadline of execution ${stay.executionId}`,
        culprit: stay,
      });
      return { kind: "lost", loss, stay };
    }
    const culpable = [...generation.stays].some(
      (other) => other !== stay && other.dispatchedAt <= frozenSince + INNOCENCE_MS,
    );
    if (!culpable) {
      await this.#restart(index, generation, {
        cause: "hung",
        detail: "frozen by work no execution in flight had started",
      });
    }
    return {
      kind: "killed",
      reason:
        "another execution froze the runner this one was sent to before it could start, and its deadline passed; the runner is restarted when that execution's deadline passes",
    };
  }

  /** The stream of a run broke: its runner process was lost. Finds out how. */
  async #lost(index: number, generation: Generation, stay: Stay, unanswered = false): Promise<Try> {
    const state = states[index] as RunnerState;
    if (!generation.loss) {
      const exit = await this.#exitSince(index, stay.dispatchedAt);
      if (!exit) {
        // The process is still there. A connection that broke before any answer, to a runner
        // that was restarted earlier, was one kept open to the process that exited: the run
        // never reached a runner, so it runs again.
        if (unanswered && (await this.#lastExit(index))) return { kind: "unreachable" };
        // Else only the connection broke. The run may still be going, so it is not run again,
        // and nobody is to blame.
        return BROKEN;
      }
      // The first run to learn of the exit closes the generation: later runs go to the new
      // process.
      if (state.generation === generation) state.generation = new Generation();
      generation.loss ??= { cause: exit.memory ? "memory" : "crashed", detail: exit.reason };
    }
    return { kind: "lost", loss: generation.loss, stay };
  }

  /**
   * Records why `generation` is lost and has the supervisor restart its process; answers the
   * loss recorded (an earlier one, if another run got there first).
   */
  async #restart(index: number, generation: Generation, loss: Loss): Promise<Loss> {
    if (generation.loss) return generation.loss;
    generation.loss = loss;
    const state = states[index] as RunnerState;
    if (state.generation !== generation) return loss;
    state.generation = new Generation();
    state.restarting = true;
    try {
      // Answered once the old process has exited; until then nothing is sent to this runner,
      // or a run could reach the old process and be lost with it.
      await this.#supervisor.fetch(`http://supervisor/runners/${index}/restart`, {
        method: "POST",
        body: loss.detail,
        signal: AbortSignal.timeout(3_000),
      });
    } catch {
      // The supervisor's own checks restart a runner that dies; the next run finds out.
    } finally {
      state.restarting = false;
    }
    return loss;
  }

  /** The runner's last exit, if the supervisor saw one since `since`. */
  async #exitSince(index: number, since: number): Promise<RunnerExit | undefined> {
    const until = Date.now() + CONFIRM_EXIT_MS;
    for (;;) {
      const exit = await this.#lastExit(index);
      if (exit && exit.at >= since) return exit;
      if (Date.now() >= until) return undefined;
      await sleep(RETRY_MS);
    }
  }

  /** The runner's last exit that the supervisor saw, if any (and if it answers). */
  async #lastExit(index: number): Promise<RunnerExit | undefined> {
    try {
      const res = await this.#supervisor.fetch(`http://supervisor/runners/${index}/exit`, {
        signal: AbortSignal.timeout(CONFIRM_EXIT_MS),
      });
      return ((await res.json()) as RunnerExit | null) ?? undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * While a run is on runner `index`, checks every MEMORY_SAMPLE_MS (one check per runner at a
   * time, whichever of its runs is due) how much the process grew since its oldest run in
   * flight started, against the sum of its runs' limits; past it, the runner is restarted.
   */
  /**
   * Checks the runner's memory every MEMORY_SAMPLE_MS while the run lasts (one timer, armed only
   * once the run has lasted that long: most runs end first and cost nothing more); answers the
   * function that stops it, which waits for a check under way.
   */
  #watchMemory(index: number, generation: Generation): () => Promise<void> {
    const state = states[index] as RunnerState;
    let stopped = false;
    let checking: Promise<void> | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const check = async () => {
      if (stopped || generation.loss) return;
      const now = Date.now();
      if (now - state.sampledAt >= MEMORY_SAMPLE_MS) {
        state.sampledAt = now;
        const stays = [...generation.stays];
        const since = Math.min(...stays.map((s) => s.dispatchedAt));
        let allowedMb = MEMORY_SLACK_MB;
        for (const s of stays) allowedMb += s.memoryMb + s.carriedMb + s.runtimeMb;
        let warmed = 0;
        for (const at of generation.warmed.values()) if (at >= since) warmed++;
        allowedMb += WARM_ISOLATE_MB * Math.min(warmed, this.#maxWarm);
        const grownMb = await this.#growth(index, since);
        if (stopped || grownMb === undefined || generation.loss) return;
        if (grownMb > allowedMb) {
          await this.#restart(index, generation, {
            cause: "memory",
            detail: `grew by ${Math.round(grownMb)} MB while ${stays.length === 1 ? "its execution" : `its ${stays.length} executions`} may use ${allowedMb} MB`,
            grownMb,
          });
          return;
        }
      }
      if (!stopped) timer = setTimeout(tick, MEMORY_SAMPLE_MS);
    };
    const tick = () => {
      checking = check();
    };
    timer = setTimeout(tick, MEMORY_SAMPLE_MS);
    return async () => {
      stopped = true;
      clearTimeout(timer);
      await checking;
    };
  }

  /** How much runner `index` grew, in MB, since `since` (the supervisor's samples). */
  async #growth(index: number, since: number): Promise<number | undefined> {
    try {
      const res = await this.#supervisor.fetch(
        `http://supervisor/runners/${index}/memory?since=${since}`,
        { signal: AbortSignal.timeout(1_000) },
      );
      const sample = (await res.json()) as { rss: number; least: number } | null;
      return sample ? (sample.rss - sample.least) / MiB : undefined;
    } catch {
      return undefined;
    }
  }

  /**
   * Where a run of estimated `cost` goes: to the first runner, in a fixed order, that is not
   * stalled and has room for it in its backlog (one that has started no heavy runtime before one
   * that has), so that light (warm) runs gather in one process, which then serves each wake-up's
   * runs together; past that, to the least loaded runner that is not stalled (heavy, fresh runs
   * spread over every core); if all are stalled, to the least loaded of all. A runner stalls when
   * hostile code freezes it, until it is restarted. Runners that are restarting or kept for a run
   * alone take nothing: -1 if no other runner exists. Of
   * three runners or more, the last is a spare: it takes a fresh run only while every other
   * runner is busy with heavy work (holds a heavy turn), stalled, restarting or kept for a run
   * alone, so that such work holds nobody up while fresh runs do not spread over more processes
   * than cores; a light run may go there whenever it has room.
   */
  #pick(cost: number): number {
    const now = Date.now();
    const spare = this.#spareClosed(now) ? this.#runners.length - 1 : -1;
    let best = -1;
    let lightest = Number.POSITIVE_INFINITY;
    let roomy = -1;
    for (let i = 0; i < this.#runners.length; i++) {
      const state = states[i] as RunnerState;
      if (state.reserved || state.restarting) continue;
      if (state.inFlight > 0 && now - state.quietSince > STALL_MS) continue;
      if (i === spare && cost >= FRESH_COST) continue;
      if (state.load + cost <= BACKLOG_MS) {
        // One that hosts no heavy runtime first: a restore sent there later would hold it up.
        if (state.generation.started.size === 0) return i;
        if (roomy < 0) roomy = i;
      }
      if (i === spare) continue;
      if (state.load < lightest) {
        best = i;
        lightest = state.load;
      }
    }
    if (roomy >= 0) return roomy;
    if (best >= 0) return best;
    for (let i = 0; i < this.#runners.length; i++) {
      const state = states[i] as RunnerState;
      if (state.reserved || state.restarting) continue;
      if (state.load < lightest) {
        best = i;
        lightest = state.load;
      }
    }
    return best;
  }

  /** Whether the spare runner (see #pick) exists and takes no fresh run now: another one is free. */
  #spareClosed(now: number): boolean {
    if (this.#runners.length < 3) return false;
    for (let i = 0; i < this.#runners.length - 1; i++) {
      const state = states[i] as RunnerState;
      if (state.reserved || state.restarting || state.turns > 0) continue;
      if (state.inFlight > 0 && now - state.quietSince > STALL_MS) continue;
      return true;
    }
    return false;
  }

  /**
   * Keeps a runner for a run that must run alone: the least loaded one that is not stalled, once
   * the runs already there have ended. At least one runner is always left to the others (when
   * there are two).
   */
  async #reserve(deadline: number, signal?: AbortSignal): Promise<number> {
    let index = -1;
    while (Date.now() < deadline && !signal?.aborted) {
      if (index < 0) {
        const now = Date.now();
        let reserved = 0;
        let lightest = Number.POSITIVE_INFINITY;
        for (let i = 0; i < this.#runners.length; i++) {
          const state = states[i] as RunnerState;
          if (state.reserved) reserved++;
          else if (!state.restarting) {
            // A stalled runner may be frozen until some run's deadline: the last choice.
            const stalled = state.inFlight > 0 && now - state.quietSince > STALL_MS;
            const weight = state.load + (stalled ? BACKLOG_MS * 1000 : 0);
            if (weight < lightest) {
              index = i;
              lightest = weight;
            }
          }
        }
        if (reserved >= Math.max(1, this.#runners.length - 1)) index = -1;
        if (index >= 0) (states[index] as RunnerState).reserved = true;
      } else {
        const state = states[index] as RunnerState;
        if (state.inFlight === 0 && !state.restarting) return index;
      }
      await sleep(RETRY_MS);
    }
    if (index >= 0) (states[index] as RunnerState).reserved = false;
    return -1;
  }
}

/** Identifies the execution to the control plane's egress ingress. */
interface RunMeta {
  executionId: string;
  egressToken: string;
}

interface TryOptions {
  job: GuestJob;
  meta: RunMeta;
  sink: LogSink;
  signal: AbortSignal | undefined;
  deadline: number;
  cost: number;
  warm: boolean;
  /** Not the first try: the harness gets only the time left before the deadline. */
  again: boolean;
  /** The run holds a heavy turn. */
  turn: boolean;
}

/** The request to a runner; a run tried again gets the time left before its deadline. */
function requestBody({ job, meta, deadline, again }: TryOptions, now: number): string {
  const left = Math.max(1, Math.floor(deadline - GRACE_MS - now));
  const sent = again ? { ...job, limits: { ...job.limits, timeoutMs: left } } : job;
  return JSON.stringify({ job: sent, ...meta } satisfies RunRequest);
}

/** How an execution that was on a lost runner ends, or that it runs again (and how). */
type Verdict =
  | (Outcome & { kind: "killed" })
  | {
      kind: "again";
      /** Run it alone: it is a suspect, and alone its own memory is what the runner shows. */
      alone: boolean;
      /** Told in its logs. */
      note: string;
      /** Its answer if it cannot run again (it reached out already). */
      otherwise: Outcome;
    };

/** Who is to blame for a loss: see docs/self-hosting.md, "Attribution". */
function judge(stay: Stay, loss: Loss): Verdict {
  if (loss.culprit === stay) {
    return {
      kind: "killed",
      culprit: "hung",
      reason:
        "the execution kept its runner busy past its deadline without yielding, so the runner was restarted",
    };
  }
  // A process lost to memory or a crash with only this run on it, ever since it came: its own.
  if (loss.cause !== "hung" && !stay.shared) {
    if (loss.cause === "memory") {
      return {
        kind: "killed",
        culprit: "memory",
        reason:
          loss.grownMb === undefined
            ? `the execution took its runner past the memory ceiling of a whole runner (${loss.detail}), so the runner was restarted`
            : `the execution used more memory than its limit of ${stay.memoryMb} MB (its runner grew by ${Math.round(loss.grownMb)} MB while it ran there alone), so its runner was restarted`,
      };
    }
    return {
      kind: "killed",
      culprit: "crashed",
      reason: `the runner process hosting this execution died (${loss.detail}) and was restarted`,
    };
  }
  if (loss.cause === "hung") {
    return {
      kind: "again",
      alone: false,
      note: "another execution froze the runner this one was on, so it ran again from the start",
      otherwise: {
        kind: "killed",
        reason:
          "another execution froze the runner this one was on and the runner was restarted; this execution had already made outbound requests, so it was not run again",
      },
    };
  }
  const what = loss.cause === "memory" ? "ran out of memory" : "died";
  return {
    kind: "again",
    alone: true,
    note: `the runner this execution shared with others ${what}, so it ran again from the start, alone, to tell which execution was to blame`,
    otherwise: {
      kind: "killed",
      reason: `the runner this execution shared with others ${what} (${loss.detail}) and was restarted; this execution had already made outbound requests, so it was not run again to tell which one was to blame`,
    },
  };
}

const BROKEN: Outcome = {
  kind: "killed",
  reason: "the connection to the runner hosting this execution broke before it answered",
};

/** Waits `ms`. */
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * One exchange with one runner: "unreachable" if the run never reached it (it is restarting),
 * "broken" if the connection broke once it had.
 */
async function exchange(
  runner: Fetcher,
  body: string,
  sink: LogSink,
  signal: AbortSignal,
  state: RunnerState,
): Promise<Try> {
  let response: Response;
  try {
    response = await runner.fetch(
      "http://runner/run",
      fitsHeader(body)
        ? { method: "POST", headers: { [JOB_HEADER]: body }, signal }
        : { method: "POST", body, signal },
    );
  } catch (err) {
    // workerd says this when a connection it had made broke; a runner that is not listening
    // (restarting) fails the connect instead.
    const lost = err instanceof Error && /connection lost/i.test(err.message);
    return lost ? { kind: "broken", unanswered: true } : { kind: "unreachable" };
  }
  return (await readLines(response, sink, state)) ?? { kind: "broken" };
}

/** Reads a runner's answer stream; resolves with no outcome if the stream broke off. */
async function readLines(
  response: Response,
  sink: LogSink,
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
    const lines = new LineSplitter();
    for (;;) {
      const { done, value } = await reader.read();
      state.quietSince = Date.now();
      if (done) return undefined;
      for (const line of lines.push(value)) {
        const outcome = final(JSON.parse(line) as RunLine, sink);
        if (outcome) return outcome;
      }
    }
  } catch {
    return undefined;
  }
}

/** The outcome a line reports, if it is the last one; forwards console output to the sink. */
function final(line: RunLine, sink: LogSink): Outcome | undefined {
  if ("k" in line) return undefined;
  if ("l" in line) {
    sink.log(line.l, line.d);
    return undefined;
  }
  if ("e" in line) return { kind: "envelope", envelope: line.e };
  if ("t" in line) return { kind: "timeout" };
  return { kind: "failed", name: line.n, message: line.f };
}
