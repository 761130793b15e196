import { DurableObject } from "cloudflare:workers";
import { INCIDENTS_KEPT } from "../src/config";
import type { Env } from "../src/env";
import type { IncidentBody } from "../src/schemas/admin";

/**
 * The record of executions that had to be stopped, and the quarantine of code that took a
 * runtime down (per tenant and code hash).
 */
export class Incidents extends DurableObject<Env> {
  readonly #sql: SqlStorage;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    void ctx.blockConcurrencyWhile(async () => {
      // Gates the first call only; the schema exists before any method runs.
      this.#sql.exec(`
        CREATE TABLE IF NOT EXISTS incidents (
          id INTEGER PRIMARY KEY AUTOINCREMENT,
          at TEXT NOT NULL,
          tenant TEXT NOT NULL,
          code_hash TEXT NOT NULL,
          reason TEXT NOT NULL,
          quarantined_until INTEGER
        )`);
    });
  }

  /** Records an incident; `quarantineMs` refuses the code for that long. */
  record(tenant: string, codeHash: string, reason: string, quarantineMs: number): void {
    const until = quarantineMs > 0 ? Date.now() + quarantineMs : null;
    this.#sql.exec(
      "INSERT INTO incidents (at, tenant, code_hash, reason, quarantined_until) VALUES (?, ?, ?, ?, ?)",
      new Date().toISOString(),
      tenant,
      codeHash,
      reason,
      until,
    );
    this.#sql.exec(
      "DELETE FROM incidents WHERE id <= (SELECT MAX(id) FROM incidents) - ?",
      INCIDENTS_KEPT,
    );
  }

  /** Every kept incident, oldest first. */
  list(): IncidentBody[] {
    return this.#sql
      .exec<{
        at: string;
        tenant: string;
        code_hash: string;
        reason: string;
        quarantined_until: number | null;
      }>("SELECT at, tenant, code_hash, reason, quarantined_until FROM incidents ORDER BY id")
      .toArray()
      .map((row) => ({
        at: row.at,
        tenant: row.tenant,
        codeHash: row.code_hash,
        reason: row.reason,
        ...(row.quarantined_until === null
          ? {}
          : { quarantinedUntil: new Date(row.quarantined_until).toISOString() }),
      }));
  }

  /**
   * Code refused right now, per tenant (another tenant's identical code is not refused), with
   * the time (ms since epoch) each is refused until.
   */
  quarantined(): { tenant: string; codeHash: string; until: number }[] {
    return this.#sql
      .exec<{ tenant: string; code_hash: string; until: number }>(
        "SELECT tenant, code_hash, MAX(quarantined_until) AS until FROM incidents WHERE quarantined_until > ? GROUP BY tenant, code_hash",
        Date.now(),
      )
      .toArray()
      .map((row) => ({ tenant: row.tenant, codeHash: row.code_hash, until: row.until }));
  }
}
