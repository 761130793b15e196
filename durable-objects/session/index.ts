import { DurableObject } from "cloudflare:workers";
import { SESSION_LIMITS } from "../../src/config";
import type { Env } from "../../src/env";
import type { WorkspaceChanges } from "../../src/sandbox/executor";
import type { SessionVariables } from "../../src/sandbox/runtimes/types";
import type { EgressPolicyBody } from "../../src/schemas/execution";
import { History, type HistoryEntry } from "./history";
import { type BeginResult, type SessionState, type Turn, TurnQueue } from "./turns";
import { Variables } from "./variables";
import { type FileInfo, type FileRefusal, Workspace } from "./workspace";

export type { HistoryEntry } from "./history";
export type { BeginResult, SessionState, Turn } from "./turns";
export type { FileInfo, FileRefusal } from "./workspace";

export interface SessionInfo {
  sessionId: string;
  createdAt: string;
  expiresAt: string;
  executions: number;
  variables: string[];
  files: number;
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

/** Every table a session keeps rows in. */
const TABLES = ["meta", "variables", "imports", "files", "file_chunks", "executions"];

/**
 * One session: carried variables, workspace files, execution history, TTL. Executions take
 * turns (`TurnQueue`): `begin` hands out the session's state to one execution at a time, in
 * arrival order, and `commit` stores what it changed and lets the next one in. A commit applies
 * only for the turn's holder: an execution that lost its turn (its hold time ran out, or the
 * object restarted and let a newer one in) cannot overwrite newer state.
 */
export class Session extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  readonly #turns: TurnQueue;
  readonly #variables: Variables;
  readonly #workspace: Workspace;
  readonly #history: History;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#turns = new TurnQueue((executionId) => this.#open(executionId));
    this.#variables = new Variables(this.#sql);
    this.#workspace = new Workspace(ctx.storage);
    this.#history = new History(this.#sql);
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
    return {
      sessionId: meta.session_id,
      createdAt: new Date(meta.created_at).toISOString(),
      expiresAt: new Date(meta.expires_at).toISOString(),
      executions: this.#history.count(),
      variables: this.#variables.names(),
      files: this.#workspace.count(),
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
    this.#turns.clear();
    this.ctx.storage.transactionSync(() => {
      for (const table of TABLES) this.#sql.exec(`DELETE FROM ${table}`);
    });
  }

  /** Waits for this execution's turn and hands over the session's state. */
  begin(executionId: string, timeoutMs: number): Promise<BeginResult> {
    if (!this.#live()) return Promise.resolve({ refused: "gone" });
    return this.#turns.wait(executionId, timeoutMs);
  }

  /** The state and turn an execution gets when its turn comes, unless the session is gone. */
  #open(executionId: string): BeginResult {
    const meta = this.#live();
    if (!meta) return { refused: "gone" };
    const state: SessionState = {
      variables: this.#variables.load(),
      files: this.#workspace.snapshot(),
      ...(meta.egress === null ? {} : { egress: JSON.parse(meta.egress) as EgressPolicyBody }),
    };
    return { state, turn: { executionId, generation: meta.generation } };
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
      const holds = this.#turns.holds(turn, meta.generation);
      let filesRefused: FileRefusal | undefined;
      this.ctx.storage.transactionSync(() => {
        if (holds) this.#sql.exec("UPDATE meta SET generation = generation + 1");
        if (holds && variables) this.#variables.save(variables);
        if (holds && files) filesRefused = this.#workspace.apply(files);
        // Kept even for a late execution: it ran, and its egress audit must not be lost.
        this.#history.record(history);
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
      this.#turns.release(turn.executionId);
    }
  }

  /** Gives up an execution's turn without storing anything (it failed before running). */
  abandon(executionId: string): void {
    this.#turns.release(executionId);
  }

  executions(): HistoryEntry[] {
    if (!this.#live()) return [];
    return this.#history.list();
  }

  listFiles(): FileInfo[] | null {
    if (!this.#live()) return null;
    return this.#workspace.list();
  }

  /** Stores a file, or says why not (nothing stored): past a cap, or a path conflict. */
  putFile(path: string, bytes: Uint8Array): "ok" | "gone" | FileRefusal {
    if (!this.#live()) return "gone";
    return this.#workspace.put(path, bytes);
  }

  getFile(path: string): Uint8Array | null {
    if (!this.#live()) return null;
    return this.#workspace.read(path) ?? null;
  }

  deleteFile(path: string): "ok" | "gone" | "missing" {
    if (!this.#live()) return "gone";
    return this.#workspace.delete(path);
  }

  /** Expires the session at `expiresAt`; re-armed if an execution extended it meanwhile. */
  override async alarm(): Promise<void> {
    const meta = this.#meta();
    if (!meta) return;
    if (meta.expires_at <= Date.now()) this.#erase();
    else await this.ctx.storage.setAlarm(meta.expires_at);
  }
}
