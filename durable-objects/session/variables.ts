import type { SessionVariables } from "../../src/sandbox/runtimes/types";

/**
 * What a session carries from one execution to the next: its top-level bindings (each with its
 * serialized value, when it has one) and its import declarations, in the order they were made.
 */
export class Variables {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** The carried names, in order. */
  names(): string[] {
    return this.#sql
      .exec<{ name: string }>("SELECT name FROM variables ORDER BY position")
      .toArray()
      .map((r) => r.name);
  }

  load(): SessionVariables {
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
    return { scope: { carried: rows.map((r) => JSON.parse(r.carried)), imports }, values };
  }

  /** Replaces everything carried; the caller holds the transaction. */
  save({ scope, values }: SessionVariables): void {
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
}
