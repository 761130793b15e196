import { DurableObject } from "cloudflare:workers";
import type { Env } from "../src/env";

/** How long a stored answer is replayed for an `Idempotency-Key`. */
export const IDEMPOTENCY_MS = 24 * 60 * 60 * 1000;

export type Claim =
  | { kind: "new" }
  | { kind: "replay"; result: string }
  | { kind: "mismatch" }
  | { kind: "running" };

/**
 * Stored answers of executions sent with an `Idempotency-Key`, one object per tenant: a retry
 * with the same key and body gets the stored answer without running the code again.
 */
export class Idempotency extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      // Gates the first call only; the schema exists before any method runs.
      this.#sql.exec(`CREATE TABLE IF NOT EXISTS answers (
        key TEXT PRIMARY KEY, body_hash TEXT NOT NULL, result TEXT, at INTEGER NOT NULL)`);
    });
  }

  /** Claims `key` for a request whose body hashes to `bodyHash`, or says why not. */
  claim(key: string, bodyHash: string): Claim {
    this.#sql.exec("DELETE FROM answers WHERE at < ?", Date.now() - IDEMPOTENCY_MS);
    const row = this.#sql
      .exec<{ body_hash: string; result: string | null }>(
        "SELECT body_hash, result FROM answers WHERE key = ?",
        key,
      )
      .toArray()[0];
    if (!row) {
      this.#sql.exec(
        "INSERT INTO answers (key, body_hash, result, at) VALUES (?, ?, NULL, ?)",
        key,
        bodyHash,
        Date.now(),
      );
      return { kind: "new" };
    }
    if (row.body_hash !== bodyHash) return { kind: "mismatch" };
    return row.result === null ? { kind: "running" } : { kind: "replay", result: row.result };
  }

  /** Stores the answer for a claimed key. */
  complete(key: string, result: string): void {
    this.#sql.exec("UPDATE answers SET result = ?, at = ? WHERE key = ?", result, Date.now(), key);
  }

  /** Frees a claimed key whose request failed before it had an answer. */
  release(key: string): void {
    this.#sql.exec("DELETE FROM answers WHERE key = ? AND result IS NULL", key);
  }
}
