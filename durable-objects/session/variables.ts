import type { SessionVariables } from "../../src/sandbox/runtimes/types";

/** The name prefix of Python's variables in the table. */
const PYTHON = "py:";

/**
 * What a session carries from one execution to the next: its top-level bindings (each with its
 * serialized value, when it has one) and its import declarations, in the order they were made.
 */
export class Variables {
  readonly #sql: SqlStorage;

  constructor(sql: SqlStorage) {
    this.#sql = sql;
  }

  /** The carried names, in order (JavaScript's, then Python's). */
  names(): string[] {
    return this.#sql
      .exec<{ name: string }>("SELECT name FROM variables ORDER BY position")
      .toArray()
      .map((r) => (r.name.startsWith(PYTHON) ? r.name.slice(PYTHON.length) : r.name));
  }

  load(): SessionVariables {
    const all = this.#sql
      .exec<{ name: string; carried: string; value: string | null }>(
        "SELECT name, carried, value FROM variables ORDER BY position",
      )
      .toArray();
    const rows = all.filter((row) => !row.name.startsWith(PYTHON));
    const python: Record<string, string> = {};
    for (const row of all) {
      if (row.name.startsWith(PYTHON) && row.value !== null) {
        python[row.name.slice(PYTHON.length)] = row.value;
      }
    }
    const values: Record<string, string> = {};
    for (const row of rows) if (row.value !== null) values[row.name] = row.value;
    const imports = this.#sql
      .exec<{ text: string; locals: string }>("SELECT text, locals FROM imports ORDER BY position")
      .toArray()
      .map((row) => ({ text: row.text, locals: JSON.parse(row.locals) as string[] }));
    return {
      scope: { carried: rows.map((r) => JSON.parse(r.carried)), imports },
      values,
      ...(Object.keys(python).length > 0 ? { python } : {}),
    };
  }

  /** Replaces everything carried; the caller holds the transaction. */
  save({ scope, values, python }: SessionVariables): void {
    this.#sql.exec("DELETE FROM variables");
    // Python's variables are rows of their own, after JavaScript's, under a prefix no JavaScript
    // or Python name has (the table has one row per name, and the two languages may share one).
    Object.entries(python ?? {}).forEach(([name, text], i) => {
      this.#sql.exec(
        "INSERT INTO variables (name, position, carried, value) VALUES (?, ?, ?, ?)",
        `${PYTHON}${name}`,
        scope.carried.length + i,
        JSON.stringify({ name, how: "python" }),
        text,
      );
    });
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
