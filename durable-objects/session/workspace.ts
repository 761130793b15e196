import { fromBase64, toBase64 } from "../../src/bytes";
import { SESSION_LIMITS } from "../../src/config";
import type { WorkspaceChanges } from "../../src/sandbox/executor";

/** A Durable Object row holds at most ~2 MB, so files are stored in chunks of this size. */
const CHUNK_BYTES = 1024 * 1024;

export interface FileInfo {
  path: string;
  size: number;
  updatedAt: string;
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

/**
 * The session's files (what its runs see under /tmp/workspace), within the session's byte and
 * file-count caps, and never a file where another one needs a directory.
 */
export class Workspace {
  readonly #storage: DurableObjectStorage;
  readonly #sql: SqlStorage;

  constructor(storage: DurableObjectStorage) {
    this.#storage = storage;
    this.#sql = storage.sql;
  }

  count(): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM files").one().n;
  }

  list(): FileInfo[] {
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

  /** Every file with its contents in base64, as a run's workspace starts out. */
  snapshot(): { path: string; data: string }[] {
    return this.#sql
      .exec<{ path: string }>("SELECT path FROM files ORDER BY path")
      .toArray()
      .map(({ path }) => ({ path, data: toBase64(this.read(path) ?? new Uint8Array()) }));
  }

  read(path: string): Uint8Array | undefined {
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

  /** Stores a file, or says why not (nothing stored): past a cap, or a path conflict. */
  put(path: string, bytes: Uint8Array): "ok" | FileRefusal {
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
    this.#storage.transactionSync(() => this.#write(path, bytes));
    return "ok";
  }

  delete(path: string): "ok" | "missing" {
    const exists = this.#sql.exec("SELECT 1 FROM files WHERE path = ?", path).toArray().length > 0;
    if (!exists) return "missing";
    this.#storage.transactionSync(() => this.#remove(path));
    return "ok";
  }

  /**
   * Applies a run's changes, all or nothing: past a file cap or with a path conflict, nothing is
   * stored and the refusal says why. The caller holds the transaction.
   */
  apply({ changed, deleted }: WorkspaceChanges): FileRefusal | undefined {
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

  #remove(path: string): void {
    this.#sql.exec("DELETE FROM files WHERE path = ?", path);
    this.#sql.exec("DELETE FROM file_chunks WHERE path = ?", path);
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
