import { DurableObject } from "cloudflare:workers";
import { fromBase64, toBase64 } from "../src/bytes";
import { SESSION_LIMITS } from "../src/config";
import type { Env } from "../src/env";
import type { SessionVariables } from "../src/sandbox/carry";
import type { WorkspaceChanges } from "../src/sandbox/executor";
import type {
  EgressAttemptBody,
  EgressPolicyBody,
  ExecutionResultBody,
} from "../src/schemas/execution";

/** A Durable Object row holds at most ~2 MB, so files are stored in chunks of this size. */
const CHUNK_BYTES = 1024 * 1024;

/** One entry of the session's execution history. */
export interface HistoryEntry {
  executionId: string;
  at: string;
  status: ExecutionResultBody["status"];
  usage: ExecutionResultBody["usage"];
  egress: EgressAttemptBody[];
}

export interface SessionInfo {
  sessionId: string;
  createdAt: string;
  expiresAt: string;
  executions: number;
  variables: string[];
  files: number;
}

export interface FileInfo {
  path: string;
  size: number;
  updatedAt: string;
}

/** What an execution needs from its session, handed over when its turn comes. */
export interface SessionState {
  variables: SessionVariables;
  files: { path: string; data: string }[];
  /** The session's own egress allow list, if it was created with one. */
  egress?: EgressPolicyBody;
}

/**
 * Why a file, or a run's workspace changes, were not stored: past the byte or file-count cap, or
 * a path that needs a directory where a file is (`path` under the file `other`) or is itself a
 * directory of another file (`other` under `path`).
 */
export type FileRefusal =
  | { reason: "too-large" }
  | { reason: "too-many" }
  | { reason: "conflict"; path: string; other: string };

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

/** Schema migrations, applied in order once each; the index + 1 is the schema version. */
const MIGRATIONS = [
  `CREATE TABLE meta (
     id INTEGER PRIMARY KEY CHECK (id = 1), tenant TEXT NOT NULL, session_id TEXT NOT NULL,
     created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, ttl_seconds INTEGER NOT NULL,
     egress TEXT);
   CREATE TABLE variables (name TEXT PRIMARY KEY, position INTEGER NOT NULL, carried TEXT NOT NULL, value TEXT);
   CREATE TABLE imports (position INTEGER PRIMARY KEY, text TEXT NOT NULL, locals TEXT NOT NULL);
   CREATE TABLE files (path TEXT PRIMARY KEY, size INTEGER NOT NULL, updated_at INTEGER NOT NULL);
   CREATE TABLE file_chunks (path TEXT NOT NULL, idx INTEGER NOT NULL, data BLOB NOT NULL, PRIMARY KEY (path, idx));
   CREATE TABLE executions (seq INTEGER PRIMARY KEY AUTOINCREMENT, execution_id TEXT NOT NULL,
     at INTEGER NOT NULL, status TEXT NOT NULL, usage TEXT NOT NULL, egress TEXT NOT NULL);`,
  // How many commits were stored: a turn granted before an object restart commits only if no
  // other commit came first (see `commit`). Counted in the commit's own write, not per turn.
  "ALTER TABLE meta ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;",
];

interface Waiter {
  executionId: string;
  timeoutMs: number;
  resolve: (result: BeginResult) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** What `commit` stored, or why not. */
export interface CommitResult {
  /**
   * Set when nothing of the execution's state was stored: its session is gone, or its turn was
   * over (it ran past its hold time, or the object restarted, so a newer execution may have run).
   */
  notSaved?: "gone" | "turn-lost";
  /** Why its workspace changes were not stored, when the rest was. */
  filesRefused?: FileRefusal;
}

/**
 * One session: carried variables, workspace files, execution history, TTL. Executions take
 * turns: `begin` hands out the session's state to one execution at a time, in arrival order,
 * and `commit` stores what it changed and lets the next one in. A commit applies only for the
 * turn's holder: an execution that lost its turn (its hold time ran out, or the object restarted
 * and let a newer one in) cannot overwrite newer state. The holder lives in memory, so granting a
 * turn writes nothing (a write per turn cost a fifth of a session's throughput); after a restart,
 * a turn granted before it may commit only while no newer turn was granted and no other commit
 * came first (the generation on disk).
 */
export class Session extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  #holder: { executionId: string; timer: ReturnType<typeof setTimeout> } | undefined;
  /** Whether this instance of the object granted any turn (false right after a restart). */
  #granted = false;
  readonly #waiting: Waiter[] = [];

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      // Gates the first call only; the schema is current before any method runs.
      this.#migrate();
    });
  }

  /** The schema version this object is at (tests check migrations with it). */
  schemaVersion(): number {
    return this.#version();
  }

  #version(): number {
    this.#sql.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
    const row = this.#sql
      .exec<{ version: number }>("SELECT version FROM schema_version")
      .toArray()[0];
    return row?.version ?? 0;
  }

  #migrate(): void {
    const from = this.#version();
    for (let v = from; v < MIGRATIONS.length; v++) this.#sql.exec(MIGRATIONS[v] as string);
    if (from === 0)
      this.#sql.exec("INSERT INTO schema_version (version) VALUES (?)", MIGRATIONS.length);
    else this.#sql.exec("UPDATE schema_version SET version = ?", MIGRATIONS.length);
  }

  #meta() {
    return this.#sql
      .exec<{
        tenant: string;
        session_id: string;
        created_at: number;
        expires_at: number;
        ttl_seconds: number;
        egress: string | null;
        generation: number;
      }>("SELECT * FROM meta")
      .toArray()[0];
  }

  /** The live session's metadata, or nothing if it never existed, was deleted or expired. */
  #live() {
    const meta = this.#meta();
    if (!meta) return undefined;
    if (meta.expires_at <= Date.now()) {
      // Erased before this call goes on, so nothing can see half an erased session; the alarm
      // still set for it finds nothing left.
      this.#erase();
      return undefined;
    }
    return meta;
  }

  /** Creates the session; answers its expiry. */
  async create(
    tenant: string,
    sessionId: string,
    ttlSeconds: number,
    egress: EgressPolicyBody | undefined,
  ): Promise<{ createdAt: string; expiresAt: string }> {
    const now = Date.now();
    const expiresAt = Math.min(now + ttlSeconds * 1000, now + SESSION_LIMITS.maxLifetimeMs);
    this.#sql.exec(
      "INSERT INTO meta (id, tenant, session_id, created_at, expires_at, ttl_seconds, egress) VALUES (1, ?, ?, ?, ?, ?, ?)",
      tenant,
      sessionId,
      now,
      expiresAt,
      ttlSeconds,
      egress === undefined ? null : JSON.stringify(egress),
    );
    await this.ctx.storage.setAlarm(expiresAt);
    return { createdAt: new Date(now).toISOString(), expiresAt: new Date(expiresAt).toISOString() };
  }

  info(): SessionInfo | null {
    const meta = this.#live();
    if (!meta) return null;
    const count = (sql: string) => this.#sql.exec<{ n: number }>(sql).one().n;
    return {
      sessionId: meta.session_id,
      createdAt: new Date(meta.created_at).toISOString(),
      expiresAt: new Date(meta.expires_at).toISOString(),
      executions: count("SELECT COUNT(*) AS n FROM executions"),
      variables: this.#sql
        .exec<{ name: string }>("SELECT name FROM variables ORDER BY position")
        .toArray()
        .map((r) => r.name),
      files: count("SELECT COUNT(*) AS n FROM files"),
    };
  }

  /** Deletes the session and everything in it. */
  async destroy(): Promise<boolean> {
    if (!this.#live()) return false;
    this.#erase();
    await this.ctx.storage.deleteAlarm();
    return true;
  }

  /** Deletes every row of the session at once (synchronously: no call can come in between). */
  #erase(): void {
    for (const waiter of this.#waiting.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.resolve({ refused: "gone" });
    }
    if (this.#holder) clearTimeout(this.#holder.timer);
    this.#holder = undefined;
    this.ctx.storage.transactionSync(() => {
      for (const table of ["meta", "variables", "imports", "files", "file_chunks", "executions"]) {
        this.#sql.exec(`DELETE FROM ${table}`);
      }
    });
  }

  /** Waits for this execution's turn and hands over the session's state. */
  begin(executionId: string, timeoutMs: number): Promise<BeginResult> {
    if (!this.#live()) return Promise.resolve({ refused: "gone" });
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
    const meta = this.#live();
    if (!meta) return { refused: "gone" };
    // A holder that never commits (its worker died) loses its turn after its timeout.
    const timer = setTimeout(() => this.#release(executionId), timeoutMs + 30_000);
    this.#holder = { executionId, timer };
    this.#granted = true;
    return {
      state: this.#state(meta.egress),
      turn: { executionId, generation: meta.generation },
    };
  }

  #release(executionId: string): void {
    if (this.#holder?.executionId !== executionId) return;
    clearTimeout(this.#holder.timer);
    this.#holder = undefined;
    const next = this.#waiting.shift();
    if (next) {
      clearTimeout(next.timer);
      next.resolve(this.#grant(next.executionId, next.timeoutMs));
    }
  }

  #state(egress: string | null): SessionState {
    const rows = this.#sql
      .exec<{ name: string; carried: string; value: string | null }>(
        "SELECT name, carried, value FROM variables ORDER BY position",
      )
      .toArray();
    const values: Record<string, string> = {};
    for (const row of rows) if (row.value !== null) values[row.name] = row.value;
    const imports = this.#sql
      .exec<{ text: string; locals: string }>("SELECT text, locals FROM imports ORDER BY position")
      .toArray()
      .map((row) => ({ text: row.text, locals: JSON.parse(row.locals) as string[] }));
    const files = this.#sql
      .exec<{ path: string }>("SELECT path FROM files ORDER BY path")
      .toArray()
      .map(({ path }) => ({ path, data: toBase64(this.#read(path) ?? new Uint8Array()) }));
    return {
      variables: { scope: { carried: rows.map((r) => JSON.parse(r.carried)), imports }, values },
      files,
      ...(egress === null ? {} : { egress: JSON.parse(egress) as EgressPolicyBody }),
    };
  }

  /**
   * Stores what an execution changed, extends the idle TTL and lets the next execution in.
   * Workspace changes past a file cap or with a path conflict are not stored (`filesRefused`).
   * An execution that no longer holds its turn stores only its history entry (`notSaved`).
   */
  async commit(
    turn: Turn,
    history: HistoryEntry,
    variables: SessionVariables | undefined,
    files: WorkspaceChanges | undefined,
  ): Promise<CommitResult> {
    try {
      const meta = this.#live();
      if (!meta) return { notSaved: "gone" };
      const holds = this.#holder
        ? this.#holder.executionId === turn.executionId
        : !this.#granted && turn.generation === meta.generation;
      let filesRefused: FileRefusal | undefined;
      this.ctx.storage.transactionSync(() => {
        if (holds) this.#sql.exec("UPDATE meta SET generation = generation + 1");
        if (holds && variables) this.#saveVariables(variables);
        if (holds && files) filesRefused = this.#applyFiles(files);
        // Kept even for a late execution: it ran, and its egress audit must not be lost. A
        // commit retried after a broken call may find its entry there already.
        this.#sql.exec(
          "INSERT INTO executions (execution_id, at, status, usage, egress) SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM executions WHERE execution_id = ?)",
          history.executionId,
          Date.parse(history.at),
          history.status,
          JSON.stringify(history.usage),
          JSON.stringify(history.egress),
          history.executionId,
        );
        this.#sql.exec(
          "DELETE FROM executions WHERE seq <= (SELECT MAX(seq) FROM executions) - ?",
          SESSION_LIMITS.history,
        );
      });
      const expiresAt = Math.min(
        Date.now() + meta.ttl_seconds * 1000,
        meta.created_at + SESSION_LIMITS.maxLifetimeMs,
      );
      this.#sql.exec("UPDATE meta SET expires_at = ?", expiresAt);
      await this.ctx.storage.setAlarm(expiresAt);
      if (!holds) return { notSaved: "turn-lost" };
      return filesRefused ? { filesRefused } : {};
    } finally {
      this.#release(turn.executionId);
    }
  }

  /** Gives up an execution's turn without storing anything (it failed before running). */
  abandon(executionId: string): void {
    this.#release(executionId);
  }

  #saveVariables({ scope, values }: SessionVariables): void {
    this.#sql.exec("DELETE FROM variables");
    scope.carried.forEach((carried, position) => {
      this.#sql.exec(
        "INSERT INTO variables (name, position, carried, value) VALUES (?, ?, ?, ?)",
        carried.name,
        position,
        JSON.stringify(carried),
        // Own keys only: a variable may be named `constructor`.
        Object.hasOwn(values, carried.name) ? values[carried.name] : null,
      );
    });
    this.#sql.exec("DELETE FROM imports");
    scope.imports.forEach((item, position) => {
      this.#sql.exec(
        "INSERT INTO imports (position, text, locals) VALUES (?, ?, ?)",
        position,
        item.text,
        JSON.stringify(item.locals),
      );
    });
  }

  #applyFiles({ changed, deleted }: WorkspaceChanges): FileRefusal | undefined {
    const decoded = changed.map(({ path, data }) => ({ path, bytes: fromBase64(data) }));
    const replaced = new Set([...deleted, ...decoded.map((f) => f.path)]);
    const kept = this.#sql
      .exec<{ path: string; size: number }>("SELECT path, size FROM files")
      .toArray()
      .filter((f) => !replaced.has(f.path));
    const added = decoded.reduce((n, f) => n + f.bytes.byteLength, 0);
    if (kept.reduce((n, f) => n + f.size, 0) + added > SESSION_LIMITS.fileBytes) {
      return { reason: "too-large" };
    }
    if (kept.length + decoded.length > SESSION_LIMITS.files) return { reason: "too-many" };
    const conflict = firstConflict(
      decoded.map((f) => f.path),
      [...kept.map((f) => f.path), ...decoded.map((f) => f.path)],
    );
    if (conflict) return conflict;
    for (const path of deleted) this.#remove(path);
    for (const { path, bytes } of decoded) this.#write(path, bytes);
    return undefined;
  }

  executions(): HistoryEntry[] {
    if (!this.#live()) return [];
    return this.#sql
      .exec<{
        execution_id: string;
        at: number;
        status: HistoryEntry["status"];
        usage: string;
        egress: string;
      }>("SELECT execution_id, at, status, usage, egress FROM executions ORDER BY seq")
      .toArray()
      .map((row) => ({
        executionId: row.execution_id,
        at: new Date(row.at).toISOString(),
        status: row.status,
        usage: JSON.parse(row.usage),
        egress: JSON.parse(row.egress),
      }));
  }

  listFiles(): FileInfo[] | null {
    if (!this.#live()) return null;
    return this.#sql
      .exec<{ path: string; size: number; updated_at: number }>(
        "SELECT path, size, updated_at FROM files ORDER BY path",
      )
      .toArray()
      .map((row) => ({
        path: row.path,
        size: row.size,
        updatedAt: new Date(row.updated_at).toISOString(),
      }));
  }

  /** Stores a file, or says why not (nothing stored): past a cap, or a path conflict. */
  putFile(path: string, bytes: Uint8Array): "ok" | "gone" | FileRefusal {
    if (!this.#live()) return "gone";
    const others = this.#sql
      .exec<{ n: number; bytes: number | null }>(
        "SELECT COUNT(*) AS n, SUM(size) AS bytes FROM files WHERE path != ?",
        path,
      )
      .one();
    if ((others.bytes ?? 0) + bytes.byteLength > SESSION_LIMITS.fileBytes) {
      return { reason: "too-large" };
    }
    if (others.n + 1 > SESSION_LIMITS.files) return { reason: "too-many" };
    const conflict = this.#conflictWith(path);
    if (conflict) return conflict;
    this.ctx.storage.transactionSync(() => this.#write(path, bytes));
    return "ok";
  }

  /** A stored file that `path` cannot exist beside, if there is one. */
  #conflictWith(path: string): FileRefusal | undefined {
    // A stored file that is one of `path`'s directories: `path` starts with it and a "/". (One
    // bound value, whatever the depth: a query takes at most 100; the file cap bounds the scan.)
    const file = this.#sql
      .exec<{ path: string }>(
        "SELECT path FROM files WHERE substr(?1, 1, length(path) + 1) = path || '/' LIMIT 1",
        path,
      )
      .toArray()[0];
    if (file) return { reason: "conflict", path, other: file.path };
    // Every path under `path/` sorts between `path/` and `path0` ("0" follows "/").
    const under = this.#sql
      .exec<{ path: string }>(
        "SELECT path FROM files WHERE path > ? AND path < ? LIMIT 1",
        `${path}/`,
        `${path}0`,
      )
      .toArray()[0];
    return under ? { reason: "conflict", path, other: under.path } : undefined;
  }

  getFile(path: string): Uint8Array | null {
    if (!this.#live()) return null;
    return this.#read(path) ?? null;
  }

  deleteFile(path: string): "ok" | "gone" | "missing" {
    if (!this.#live()) return "gone";
    const exists = this.#sql.exec("SELECT 1 FROM files WHERE path = ?", path).toArray().length > 0;
    if (!exists) return "missing";
    this.ctx.storage.transactionSync(() => this.#remove(path));
    return "ok";
  }

  #write(path: string, bytes: Uint8Array): void {
    this.#remove(path);
    this.#sql.exec(
      "INSERT INTO files (path, size, updated_at) VALUES (?, ?, ?)",
      path,
      bytes.byteLength,
      Date.now(),
    );
    for (let i = 0, idx = 0; i < bytes.byteLength || idx === 0; i += CHUNK_BYTES, idx++) {
      this.#sql.exec(
        "INSERT INTO file_chunks (path, idx, data) VALUES (?, ?, ?)",
        path,
        idx,
        bytes.slice(i, i + CHUNK_BYTES),
      );
    }
  }

  #read(path: string): Uint8Array | undefined {
    const chunks = this.#sql
      .exec<{ data: ArrayBuffer }>("SELECT data FROM file_chunks WHERE path = ? ORDER BY idx", path)
      .toArray();
    if (chunks.length === 0) return undefined;
    const total = chunks.reduce((n, c) => n + c.data.byteLength, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const { data } of chunks) {
      out.set(new Uint8Array(data), at);
      at += data.byteLength;
    }
    return out;
  }

  #remove(path: string): void {
    this.#sql.exec("DELETE FROM files WHERE path = ?", path);
    this.#sql.exec("DELETE FROM file_chunks WHERE path = ?", path);
  }

  /** Expires the session at `expiresAt`; re-armed if an execution extended it meanwhile. */
  override async alarm(): Promise<void> {
    const meta = this.#meta();
    if (!meta) return;
    if (meta.expires_at <= Date.now()) this.#erase();
    else await this.ctx.storage.setAlarm(meta.expires_at);
  }
}

/** The directories a workspace path needs: `a/b/c` needs `a` and `a/b`. */
function directoriesOf(path: string): string[] {
  const dirs: string[] = [];
  for (let at = path.indexOf("/"); at > 0; at = path.indexOf("/", at + 1)) {
    dirs.push(path.slice(0, at));
  }
  return dirs;
}

/**
 * The first of `added` that cannot exist beside the workspace `all` (which holds `added`): a file
 * where another needs a directory. Stored files never conflict, so any conflict involves `added`.
 */
function firstConflict(added: string[], all: string[]): FileRefusal | undefined {
  const files = new Set(all);
  const dirs = new Map<string, string>();
  for (const path of all) for (const dir of directoriesOf(path)) dirs.set(dir, path);
  for (const path of added) {
    const file = directoriesOf(path).find((dir) => files.has(dir));
    if (file !== undefined) return { reason: "conflict", path, other: file };
    const under = dirs.get(path);
    if (under !== undefined) return { reason: "conflict", path, other: under };
  }
  return undefined;
}
