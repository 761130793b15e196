import { SNAPSHOT_LIMITS } from "../../src/config";
import { collectChunks, storeChunk } from "./chunks";

/** A saved state of the session, as its routes describe it. */
export interface SnapshotInfo {
  snapshotId: string;
  createdAt: string;
  bytes: number;
}

/** Why a snapshot was not taken (nothing of it stored). */
export type SnapshotRefusal = { refused: "too-many" } | { refused: "too-large"; bytes: number };

/**
 * Where a copy of a snapshot goes on from: the part (`PARTS` index) and the last row sent of it.
 */
export interface Cursor {
  part: number;
  after: number;
}

/** Rows of a snapshot on their way to another session's object, each with its part. */
export type Rows = { part: number; values: SqlStorageValue[] }[];

/**
 * What a snapshot holds: the live tables' rows, with the same columns (a file's chunks by
 * reference). Table and column names come from here only, never from a caller.
 */
const PARTS = [
  { table: "variables", columns: ["name", "position", "carried", "value"] },
  { table: "imports", columns: ["position", "text", "locals"] },
  { table: "files", columns: ["path", "size", "updated_at"] },
  { table: "file_chunks", columns: ["path", "idx", "chunk"] },
] as const;

/** The chunks part, which a fork sends with the chunk's bytes instead of its id (`data`). */
const CHUNKS_PART = 3;

/** The tables snapshots keep rows in: the session erases them with the rest. */
export const SNAPSHOT_TABLES = ["snapshots", ...PARTS.map((p) => `snapshot_${p.table}`)];

/** The most one page of a copy carries (RPC messages are capped at 32 MiB; a row, ~2 MB). */
const PAGE_BYTES = 4 * 1024 * 1024;

/** A fork's copy of the state it forks: not listed, not counted, dropped when the fork ends. */
const EXPORT = "export";

/** An `export` snapshot older than this belongs to a fork that died; the next snapshot drops it. */
const EXPORT_KEPT_MS = 10 * 60_000;

/**
 * The session's snapshots, in its own storage beside the live state: copies of the variables,
 * imports and files tables, made and restored by SQL inside one transaction each, so a snapshot
 * or a restore is never partial. The caller holds the session's turn (no run in between).
 */
export class Snapshots {
  readonly #storage: DurableObjectStorage;
  readonly #sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
    this.#sql = storage.sql;
  }

  list(): SnapshotInfo[] {
    return this.#sql
      .exec<{ id: string; created_at: number; bytes: number }>(
        "SELECT id, created_at, bytes FROM snapshots WHERE kind = 'user' ORDER BY rowid",
      )
      .toArray()
      .map((row) => ({
        snapshotId: row.id,
        createdAt: new Date(row.created_at).toISOString(),
        bytes: row.bytes,
      }));
  }

  /** Whether the user's snapshot `id` exists. */
  has(id: string): boolean {
    return (
      this.#sql.exec("SELECT 1 FROM snapshots WHERE id = ? AND kind = 'user'", id).toArray()
        .length > 0
    );
  }

  /** The egress narrowing a snapshot (of any kind) holds; undefined when it does not exist. */
  egressOf(id: string): { egress: string | null } | undefined {
    return this.#sql
      .exec<{ egress: string | null }>("SELECT egress FROM snapshots WHERE id = ?", id)
      .toArray()[0];
  }

  /**
   * Saves the live state as the user's snapshot `id`, or refuses it past the caps (nothing
   * stored either way but the whole snapshot).
   */
  take(id: string, egress: string | null): SnapshotInfo | SnapshotRefusal {
    this.#dropStaleExports();
    const taken = this.#sql
      .exec<{ n: number; bytes: number | null }>(
        "SELECT COUNT(*) AS n, SUM(bytes) AS bytes FROM snapshots WHERE kind = 'user'",
      )
      .one();
    if (taken.n >= SNAPSHOT_LIMITS.count) return { refused: "too-many" };
    const bytes = this.#liveBytes();
    if ((taken.bytes ?? 0) + bytes > SNAPSHOT_LIMITS.bytes) return { refused: "too-large", bytes };
    const createdAt = this.#copy(id, "user", egress, bytes);
    return { snapshotId: id, createdAt: new Date(createdAt).toISOString(), bytes };
  }

  /** Saves the live state for a fork to copy (not listed, not counted; `drop` it after). */
  takeForExport(id: string, egress: string | null): void {
    this.#dropStaleExports();
    this.#copy(id, EXPORT, egress, this.#liveBytes());
  }

  /** Deletes snapshot `id`, of any kind; whether it existed. */
  drop(id: string): boolean {
    if (!this.egressOf(id)) return false;
    this.#storage.transactionSync(() => {
      this.#delete(id);
      collectChunks(this.#sql);
    });
    return true;
  }

  /** Deletes a fork's `export` snapshot; never one of the user's. */
  dropExport(id: string): void {
    const kind = this.#sql
      .exec<{ kind: string }>("SELECT kind FROM snapshots WHERE id = ?", id)
      .toArray()[0]?.kind;
    if (kind !== EXPORT) return;
    this.#storage.transactionSync(() => {
      this.#delete(id);
      collectChunks(this.#sql);
    });
  }

  /**
   * Replaces the live variables, imports and files with snapshot `id`'s; the caller holds the
   * transaction (and sets the egress narrowing, which lives in the session's metadata).
   */
  restore(id: string): void {
    for (const { table, columns } of PARTS) {
      const list = columns.join(", ");
      this.#sql.exec(`DELETE FROM ${table}`);
      this.#sql.exec(
        `INSERT INTO ${table} (${list}) SELECT ${list} FROM snapshot_${table} WHERE snapshot = ?`,
        id,
      );
    }
    collectChunks(this.#sql);
  }

  /**
   * One page of snapshot `id`'s rows from `cursor` on (null: the start), and where the next page
   * starts (null: this was the last).
   */
  page(id: string, cursor: Cursor | null): { rows: Rows; next: Cursor | null } {
    const rows: Rows = [];
    let bytes = 0;
    let { part, after } = cursor ?? { part: 0, after: 0 };
    while (part < PARTS.length) {
      const { table, columns } = PARTS[part] as (typeof PARTS)[number];
      // A file's chunk goes with its bytes: the other object has its own chunk ids.
      const select =
        part === CHUNKS_PART
          ? "path, idx, (SELECT data FROM chunks WHERE id = chunk) AS data"
          : columns.join(", ");
      // 64 rows at a time: a page holds at most one row past its budget.
      const found = this.#sql
        .exec(
          `SELECT rowid AS _row, ${select} FROM snapshot_${table} WHERE snapshot = ? AND rowid > ? ORDER BY rowid LIMIT 64`,
          id,
          after,
        )
        .toArray();
      for (const row of found) {
        after = row._row as number;
        const names = part === CHUNKS_PART ? ["path", "idx", "data"] : columns;
        const values = names.map((column) => row[column] as SqlStorageValue);
        rows.push({ part, values });
        bytes += values.reduce<number>((n, v) => n + sizeOf(v), 0);
        if (bytes >= PAGE_BYTES) return { rows, next: { part, after } };
      }
      if (found.length < 64) {
        part++;
        after = 0;
      }
    }
    return { rows, next: null };
  }

  /**
   * Adds a page of another session's rows to this object's live tables, which a fork fills
   * before its session exists; the caller holds the transaction that also makes the session.
   */
  stage(rows: Rows): void {
    for (const { part, values } of rows) {
      const spec = PARTS[part];
      if (!spec || values.length !== spec.columns.length) throw new Error("malformed fork rows");
      if (part === CHUNKS_PART) {
        const [path, idx, data] = values;
        if (!(data instanceof ArrayBuffer)) throw new Error("malformed fork rows");
        const chunk = storeChunk(this.#sql, data);
        this.#sql.exec(
          "INSERT INTO file_chunks (path, idx, chunk) VALUES (?, ?, ?)",
          path ?? null,
          idx ?? null,
          chunk,
        );
        continue;
      }
      this.#sql.exec(
        `INSERT INTO ${spec.table} (${spec.columns.join(", ")}) VALUES (${spec.columns.map(() => "?").join(", ")})`,
        ...values,
      );
    }
  }

  #copy(id: string, kind: string, egress: string | null, bytes: number): number {
    const createdAt = Date.now();
    this.#storage.transactionSync(() => {
      this.#sql.exec(
        "INSERT INTO snapshots (id, created_at, bytes, egress, kind) VALUES (?, ?, ?, ?, ?)",
        id,
        createdAt,
        bytes,
        egress,
        kind,
      );
      for (const { table, columns } of PARTS) {
        const list = columns.join(", ");
        this.#sql.exec(
          `INSERT INTO snapshot_${table} (snapshot, ${list}) SELECT ?, ${list} FROM ${table}`,
          id,
        );
      }
    });
    return createdAt;
  }

  #delete(id: string): void {
    for (const table of SNAPSHOT_TABLES) {
      this.#sql.exec(
        `DELETE FROM ${table} WHERE ${table === "snapshots" ? "id" : "snapshot"} = ?`,
        id,
      );
    }
  }

  #dropStaleExports(): void {
    const stale = this.#sql
      .exec<{ id: string }>(
        "SELECT id FROM snapshots WHERE kind = ? AND created_at < ?",
        EXPORT,
        Date.now() - EXPORT_KEPT_MS,
      )
      .toArray();
    if (stale.length === 0) return;
    this.#storage.transactionSync(() => {
      for (const { id } of stale) this.#delete(id);
      collectChunks(this.#sql);
    });
  }

  /** What the live state stores: file bytes, and the UTF-8 bytes of variables and imports. */
  #liveBytes(): number {
    return this.#sql
      .exec<{ bytes: number }>(
        `SELECT
           (SELECT COALESCE(SUM(size), 0) FROM files)
         + (SELECT COALESCE(SUM(length(CAST(name AS BLOB)) + length(CAST(carried AS BLOB)) + COALESCE(length(CAST(value AS BLOB)), 0)), 0) FROM variables)
         + (SELECT COALESCE(SUM(length(CAST(text AS BLOB)) + length(CAST(locals AS BLOB))), 0) FROM imports)
         AS bytes`,
      )
      .one().bytes;
  }
}

/** A value's share of a page: strings counted at two bytes a character, as RPC may send them. */
function sizeOf(value: SqlStorageValue): number {
  if (value instanceof ArrayBuffer) return value.byteLength;
  if (typeof value === "string") return value.length * 2;
  return 8;
}
