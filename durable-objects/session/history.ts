import { SESSION_LIMITS } from "../../src/config";
import type { EgressAttemptBody, ExecutionResultBody } from "../../src/schemas/execution";

/** One entry of the session's execution history. */
export interface HistoryEntry {
  executionId: string;
  at: string;
  status: ExecutionResultBody["status"];
  usage: ExecutionResultBody["usage"];
  egress: EgressAttemptBody[];
}

/** The session's last executions (`SESSION_LIMITS.history` of them), oldest first. */
export class History {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  count(): number {
    return this.#sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM executions").one().n;
  }

  /**
   * Adds an execution's entry and drops the oldest past the cap; the caller holds the
   * transaction. A commit retried after a broken call may find its entry there already.
   */
  record(entry: HistoryEntry): void {
    this.#sql.exec(
      "INSERT INTO executions (execution_id, at, status, usage, egress) SELECT ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM executions WHERE execution_id = ?)",
      entry.executionId,
      Date.parse(entry.at),
      entry.status,
      JSON.stringify(entry.usage),
      JSON.stringify(entry.egress),
      entry.executionId,
    );
    this.#sql.exec(
      "DELETE FROM executions WHERE seq <= (SELECT MAX(seq) FROM executions) - ?",
      SESSION_LIMITS.history,
    );
  }

  list(): HistoryEntry[] {
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
}
