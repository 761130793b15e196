import { DurableObject } from "cloudflare:workers";
import { IDEMPOTENCY_MS } from "../src/config";
import type { Env } from "../src/env";

export type Claim =
  | { kind: "new"; token: string }
  | { kind: "replay"; result: string }
  | { kind: "mismatch" }
  | { kind: "running" };

/**
 * Stored answers of executions sent with an `Idempotency-Key`, one object per tenant: a retry
 * with the same key and body on the same route (`scope`) gets the stored answer without running
 * the code again. A claim without an answer holds a lease; past it, the request that made it
 * counts as dead and the key may be claimed again. Each claim has a token, so the request that
 * lost its claim can neither answer nor free the one that took it over.
 */
export class Idempotency extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      // Gates the first call only; the schema exists before any method runs.
      this.#sql.exec(`CREATE TABLE IF NOT EXISTS claims (
        scope TEXT NOT NULL, key TEXT NOT NULL, body_hash TEXT NOT NULL, token TEXT NOT NULL,
        result TEXT, at INTEGER NOT NULL, lease_until INTEGER NOT NULL,
        PRIMARY KEY (scope, key));
        CREATE INDEX IF NOT EXISTS claims_by_at ON claims(at);
        DROP TABLE IF EXISTS answers;`);
      // `answers` kept keys per tenant only: which route a key was used on is not known, so
      // those answers cannot be replayed under per-route keys and are dropped.
    });
  }

  /**
   * Claims `key` on `scope` for a request whose body hashes to `bodyHash`, for `leaseMs`, or
   * says why not: the stored answer, another body, or a live claim.
   */
  claim(scope: string, key: string, bodyHash: string, leaseMs: number): Claim {
    const now = Date.now();
    this.#sql.exec("DELETE FROM claims WHERE at < ?", now - IDEMPOTENCY_MS);
    const row = this.#sql
      .exec<{ body_hash: string; result: string | null; lease_until: number }>(
        "SELECT body_hash, result, lease_until FROM claims WHERE scope = ? AND key = ?",
        scope,
        key,
      )
      .toArray()[0];
    // A claim past its lease without an answer was abandoned: the key is free again.
    if (row && (row.result !== null || row.lease_until > now)) {
      if (row.body_hash !== bodyHash) return { kind: "mismatch" };
      return row.result === null ? { kind: "running" } : { kind: "replay", result: row.result };
    }
    const token = crypto.randomUUID();
    this.#sql.exec(
      "INSERT INTO claims (scope, key, body_hash, token, result, at, lease_until) VALUES (?, ?, ?, ?, NULL, ?, ?) ON CONFLICT (scope, key) DO UPDATE SET body_hash = excluded.body_hash, token = excluded.token, result = NULL, at = excluded.at, lease_until = excluded.lease_until",
      scope,
      key,
      bodyHash,
      token,
      now,
      now + Math.max(0, leaseMs),
    );
    return { kind: "new", token };
  }

  /** Stores the answer for a key, if `token` still holds its claim. */
  complete(scope: string, key: string, token: string, result: string): void {
    this.#sql.exec(
      "UPDATE claims SET result = ?, at = ? WHERE scope = ? AND key = ? AND token = ? AND result IS NULL",
      result,
      Date.now(),
      scope,
      key,
      token,
    );
  }

  /** Frees a key whose request failed before it had an answer, if `token` still holds it. */
  release(scope: string, key: string, token: string): void {
    this.#sql.exec(
      "DELETE FROM claims WHERE scope = ? AND key = ? AND token = ? AND result IS NULL",
      scope,
      key,
      token,
    );
  }
}
