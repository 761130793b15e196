import { DurableObject } from "cloudflare:workers";
import type { Env } from "../src/env";

/** SQLite keeps a row under 2 MB; blobs are stored in parts of this size. */
const PART_BYTES = 1024 * 1024;

/**
 * Content-addressed blobs of the package cache on Cloudflare (tarballs by integrity, builds by
 * resolved set; src/packages/store.ts), spread over a few instances by key. A blob is readable
 * only once all its parts are written (`commit`), so a failed write leaves nothing behind that
 * a reader could take for the blob.
 */
export class PackageCache extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      // Gates the first call only; the schema exists before any method runs.
      this.#sql.exec(`
        CREATE TABLE IF NOT EXISTS parts (
          key TEXT NOT NULL,
          part INTEGER NOT NULL,
          data BLOB NOT NULL,
          PRIMARY KEY (key, part)
        );
        CREATE TABLE IF NOT EXISTS blobs (
          key TEXT PRIMARY KEY,
          parts INTEGER NOT NULL,
          bytes INTEGER NOT NULL
        )`);
    });
  }

  /** How many parts a committed blob has, or null if there is none. */
  parts(key: string): number | null {
    const row = this.#sql.exec("SELECT parts FROM blobs WHERE key = ?", key).toArray()[0];
    return row ? Number(row.parts) : null;
  }

  /** One part of a committed blob. */
  part(key: string, part: number): Uint8Array | null {
    const row = this.#sql
      .exec("SELECT data FROM parts WHERE key = ? AND part = ?", key, part)
      .toArray()[0];
    return row?.data instanceof ArrayBuffer ? new Uint8Array(row.data) : null;
  }

  /** Writes one part of a blob (at most 1 MiB), not yet readable. */
  write(key: string, part: number, data: Uint8Array): void {
    if (data.byteLength > PART_BYTES)
      throw new RangeError(`a part holds at most ${PART_BYTES} bytes`);
    this.#sql.exec(
      "INSERT OR REPLACE INTO parts (key, part, data) VALUES (?, ?, ?)",
      key,
      part,
      data,
    );
  }

  /** Makes a blob whose `parts` parts were all written readable. */
  commit(key: string, parts: number, bytes: number): void {
    const written = this.#sql
      .exec("SELECT COUNT(*) AS n FROM parts WHERE key = ? AND part < ?", key, parts)
      .toArray()[0];
    if (Number(written?.n) !== parts) throw new Error(`blob ${key} is missing parts`);
    this.#sql.exec(
      "INSERT OR REPLACE INTO blobs (key, parts, bytes) VALUES (?, ?, ?)",
      key,
      parts,
      bytes,
    );
  }
}
