// The server's names, caps, defaults and limits, in one place: what docs/api.md, docs/guest.md and
// the policy schema promise. This module imports nothing, so anything may import it (Durable
// Objects included). Tuning that belongs to one mechanism (cache lifetimes, batching, timers)
// stays beside its code.

/** The compatibility date of every guest isolate, whatever its runtime. */
export const GUEST_COMPATIBILITY_DATE = "2026-11-01";

/** The tenant registry: one instance holds every tenant, so a key resolves with one lookup. */
export const REGISTRY = "registry";

/** The one instance that records incidents and quarantines code. */
export const INCIDENTS = "incidents";

/** Server defaults and caps of one execution request. */
export const LIMITS = {
  codeBytes: 1024 * 1024,
  inputBytes: 1024 * 1024,
  /** Arrays and objects in one another; as deep as a result may be before it reads "[Too deep]". */
  inputDepth: 100,
  resultBytes: 1024 * 1024,
  logLines: 1000,
  logBytes: 256 * 1024,
  timeoutMs: 10_000,
  maxTimeoutMs: 300_000,
  /** Largest request body accepted before parsing: code and input at their caps plus room for JSON. */
  requestBytes: 3 * 1024 * 1024,
} as const;

/** Admin bodies are a policy or a secret; nothing legitimate comes near this. */
export const ADMIN_BODY_BYTES = 1024 * 1024;

/** The most a tenant policy may set each limit to. */
export const POLICY_CAPS = {
  rate: 10_000,
  burst: 10_000,
  concurrency: 256,
  timeoutMs: LIMITS.maxTimeoutMs,
  /** Every concurrency slot busy for the whole minute: a larger budget could never be spent. */
  wallMsPerMinute: 256 * 60_000,
  memoryMb: 4096,
} as const;

/** The smallest memory limit a policy may set: an isolate alone takes a few MB. */
export const MIN_MEMORY_MB = 16;

/** What a tenant gets for a limit its policy leaves out. */
export const DEFAULT_TENANT_LIMITS = {
  timeoutMs: LIMITS.maxTimeoutMs,
  rate: 20,
  burst: 40,
  concurrency: 8,
  wallMsPerMinute: 600_000,
  /** Cloudflare's memory limit per isolate. */
  memoryMb: 128,
} as const;

/** Per-execution limits on what the guest may send and receive. */
export interface EgressCaps {
  /** Requests (and connects, and redirect hops) that may leave; past it each one is denied. */
  subrequests: number;
  /** Request body bytes sent upstream, all requests and sockets of the execution together. */
  requestBytes: number;
  /** Response body bytes received, all requests and sockets together; past it the stream errors. */
  responseBytes: number;
  /** How long one request may take, headers and body (and how long a connect may take to open). */
  requestTimeoutMs: number;
}

export const DEFAULT_EGRESS_CAPS: EgressCaps = {
  subrequests: 50,
  requestBytes: 10 * 1024 * 1024,
  responseBytes: 10 * 1024 * 1024,
  requestTimeoutMs: 30_000,
};

/** Redirects the gateway follows for one request before it fails. */
export const MAX_REDIRECTS = 5;

/** Attempts an execution's audit lists; denied ones past it are only counted. */
export const MAX_AUDIT_ENTRIES = 1_000;

/** Limits of one session. */
export const SESSION_LIMITS = {
  defaultTtlSeconds: 15 * 60,
  maxLifetimeMs: 24 * 60 * 60 * 1000,
  fileBytes: 10 * 1024 * 1024,
  /** Files a session may hold: each one is written into every run's workspace before it starts. */
  files: 1_000,
  /** Executions kept in the history; the oldest go first. */
  history: 100,
  /** Executions that may wait for their turn; more get a 409 at once. */
  maxWaiting: 16,
  /** How long an execution may wait for its turn before it gets a 409. */
  maxWaitMs: 30_000,
  /** The most a session carries: names, carried sources and import declarations, in characters. */
  carriedChars: 1024 * 1024,
} as const;

/** Python's limits (docs/python.md). */
export const PYTHON_LIMITS = {
  /**
   * Sessions whose interpreter a process keeps between turns (`CORDON_PYTHON_WARM_SESSIONS`
   * overrides it): each holds 100 to 200 MB, and a runner process may hold 1.5 GiB.
   */
  warmSessionsPerProcess: 2,
  /**
   * A kept interpreter used within this many seconds is not ended for another session's
   * (`CORDON_PYTHON_KEEP_SECONDS` overrides it): ending and making interpreters costs memory the
   * process does not all get back.
   */
  keepSeconds: 30,
  /**
   * How far a kept interpreter's wasm memory may grow past what it started with; past it the
   * interpreter is ended after its turn (wasm memory never shrinks).
   */
  keptGrowthMb: 64,
} as const;

/**
 * Snapshots of one session, kept in its own storage: at most this many (a 409 past it), holding at
 * most this many bytes together (a 413): files, carried variables and imports, as stored.
 */
export const SNAPSHOT_LIMITS = {
  count: 16,
  bytes: 64 * 1024 * 1024,
} as const;

/** How long a stored answer is replayed for an `Idempotency-Key`. */
export const IDEMPOTENCY_MS = 24 * 60 * 60 * 1000;

/**
 * How long an idempotency claim outlives its execution's deadline before it counts as abandoned:
 * a session run's wait for its turn (at most `SESSION_LIMITS.maxWaitMs`), compiling, the kill
 * path and storing the answer.
 */
export const LEASE_MARGIN_MS = 60_000;

/** How many incidents are kept; the oldest go first. */
export const INCIDENTS_KEPT = 1_000;

/** How long code that took a runtime down is refused when CORDON_QUARANTINE_SECONDS is unset. */
export const DEFAULT_QUARANTINE_SECONDS = 600;

/** Limits of the tools an execution calls (docs/api.md, "Tools"). */
export const TOOL_LIMITS = {
  /** Calls one execution may make; a tenant policy's `limits.toolCalls` may lower it. */
  callsPerExecution: 100,
  /** The JSON text of one call's arguments. */
  argsBytes: 1024 * 1024,
  /** The JSON text of one answer (a caller's, or an MCP server's result). */
  answerBytes: 1024 * 1024,
  /** How long an MCP server's `tools/list` is reused, per tenant and URL. */
  listCacheMs: 60_000,
} as const;
