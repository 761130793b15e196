import { SESSION_LIMITS } from "../../src/config";
import type { SessionVariables } from "../../src/sandbox/runtimes/types";
import type { EgressPolicyBody } from "../../src/schemas/execution";

/** What an execution needs from its session, handed over when its turn comes. */
export interface SessionState {
  variables: SessionVariables;
  files: { path: string; data: string }[];
  /** The session's own egress allow list, if it was created with one. */
  egress?: EgressPolicyBody;
}

/** An execution's turn: `commit` is fenced by it. */
export interface Turn {
  executionId: string;
  /** How many commits the session had when the turn was granted. */
  generation: number;
}

/** Either the state and the turn (it is this execution's turn) or why not. */
export interface BeginResult {
  state?: SessionState;
  turn?: Turn;
  refused?: "gone" | "busy";
}

/** How long past its own timeout a holder that never commits (its worker died) keeps its turn. */
const ABANDONED_AFTER_MS = 30_000;

interface Waiter {
  executionId: string;
  timeoutMs: number;
  resolve: (result: BeginResult) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The session's executions take turns, one at a time, in arrival order. The holder lives in
 * memory, so granting a turn writes nothing (a write per turn cost a fifth of a session's
 * throughput); after a restart, a turn granted before it may commit only while no newer turn was
 * granted and no other commit came first (the generation on disk, which commits count).
 */
export class TurnQueue {
  /** Hands an execution the session's state and its turn, or says the session is gone. */
  readonly #open: (executionId: string) => BeginResult;
  #holder: { executionId: string; timer: ReturnType<typeof setTimeout> } | undefined;
  /** Whether this instance of the object granted any turn (false right after a restart). */
  #granted = false;
  readonly #waiting: Waiter[] = [];

  constructor(open: (executionId: string) => BeginResult) {
    this.#open = open;
  }

  /**
   * The state and turn once it is this execution's turn; "busy" when too many executions wait
   * already or it waited too long.
   */
  wait(executionId: string, timeoutMs: number): Promise<BeginResult> {
    if (!this.#holder) return Promise.resolve(this.#grant(executionId, timeoutMs));
    if (this.#waiting.length >= SESSION_LIMITS.maxWaiting) {
      return Promise.resolve({ refused: "busy" });
    }
    return new Promise((resolve) => {
      const waiter: Waiter = {
        executionId,
        timeoutMs,
        resolve,
        timer: setTimeout(() => {
          const at = this.#waiting.indexOf(waiter);
          if (at >= 0) this.#waiting.splice(at, 1);
          resolve({ refused: "busy" });
        }, SESSION_LIMITS.maxWaitMs),
      };
      this.#waiting.push(waiter);
    });
  }

  #grant(executionId: string, timeoutMs: number): BeginResult {
    const opened = this.#open(executionId);
    if (!opened.turn) return opened;
    const timer = setTimeout(() => this.release(executionId), timeoutMs + ABANDONED_AFTER_MS);
    this.#holder = { executionId, timer };
    this.#granted = true;
    return opened;
  }

  /**
   * Whether `turn` may still commit, the session having had `generation` commits: it holds the
   * turn, or, after a restart, no turn was granted since and no other commit came first.
   */
  holds(turn: Turn, generation: number): boolean {
    return this.#holder
      ? this.#holder.executionId === turn.executionId
      : !this.#granted && turn.generation === generation;
  }

  /** Ends this execution's turn, if it holds it, and lets the next one in. */
  release(executionId: string): void {
    if (this.#holder?.executionId !== executionId) return;
    clearTimeout(this.#holder.timer);
    this.#holder = undefined;
    const next = this.#waiting.shift();
    if (next) {
      clearTimeout(next.timer);
      next.resolve(this.#grant(next.executionId, next.timeoutMs));
    }
  }

  /** Ends every turn, held or awaited: the session is gone. */
  clear(): void {
    for (const waiter of this.#waiting.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.resolve({ refused: "gone" });
    }
    if (this.#holder) clearTimeout(this.#holder.timer);
    this.#holder = undefined;
  }
}
