// Types of workloads.mjs for the TypeScript tests that import it.
import type { BenchSystem } from "./systems.mjs";

export type Workload =
  | "healthz"
  | "warm"
  | "fresh"
  | "session"
  | "fetch"
  | "python-fresh"
  | "python-session";

export const WORKLOADS: Workload[];
export const PYTHON_WORKLOADS: Workload[];
export const PYTHON_CLIENTS: number;
export const WORKLOAD_INFO: Record<Workload, string>;

export interface Skipped {
  system: string;
  workload: Workload;
  connections: number;
  supported: false;
  note: string;
}

export interface Measured {
  system: string;
  workload: Workload;
  connections: number;
  supported: true;
  seconds: number;
  /** Answers received; `correct` of them were 2xx with the expected result. */
  requests: number;
  correct: number;
  /** Wrong answers plus connection errors and timeouts. */
  errors: number;
  transportErrors: number;
  timeouts: number;
  firstError?: string;
  /** Correct answers per second. */
  rps: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
  max: number | null;
  wallMsP50: number | null;
  /** Fraction of the machine's cores other processes used during the measurement. */
  otherShare: number;
}

export function runWorkload(
  system: Pick<BenchSystem, "name" | "url" | "headers">,
  workload: Workload,
  options?: {
    seconds?: number;
    connections?: number;
    warmupSeconds?: number;
    warmupAmount?: number;
    amount?: number;
    untilAnswered?: boolean;
    upstreamUrl?: string;
  },
): Promise<Skipped | Measured>;

type Session = { sessionId: string; token: string; expiresAt: string };

export function createSessions(
  system: Pick<BenchSystem, "url" | "headers">,
  count: number,
  options?: {
    first?: Session;
    concurrency?: number;
    setup?: { code: string; language?: string };
  },
): Promise<{ sessions: Session[]; error?: undefined } | { error: string }>;

export function probeSessions(
  system: Pick<BenchSystem, "url" | "headers">,
): Promise<{ session: Session; skip?: undefined } | { skip: string }>;
