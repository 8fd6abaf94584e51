import type mysql from 'mysql2/promise';

/**
 * MariaDB's JSON is an alias: the column is a LONGTEXT with a `json_valid(col)` CHECK constraint,
 * and neither the binlog nor information_schema.COLUMNS says JSON. The constraint is how the
 * server tells the two apart (information_schema.CHECK_CONSTRAINTS), so such columns are captured
 * as JSON, as a MySQL JSON column is. Read at start-up like the unique keys: a table created
 * later keeps its JSON columns as text until the source restarts.
 */
export class JsonColumns {
  #byTable = new Map<string, Set<string>>();

  async load(conn: mysql.Connection): Promise<void> {
    let rows: Array<{ db: string; t: string; clause: string }>;
    try {
      [rows] = (await conn.query(
        "SELECT CONSTRAINT_SCHEMA AS db, TABLE_NAME AS t, CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS WHERE CHECK_CLAUSE LIKE 'json\\_valid(%'",
      )) as unknown as [Array<{ db: string; t: string; clause: string }>];
    } catch (error) {
      // MySQL's CHECK_CONSTRAINTS has no TABLE_NAME (errno 1054); its JSON is a type of its own anyway.
      if ((error as { errno?: number }).errno === 1054) return;
      throw error;
    }
    const byTable = new Map<string, Set<string>>();
    for (const { db, t, clause } of rows) {
      const column = /^json_valid\(`((?:[^`]|``)+)`\)$/i.exec(clause.trim())?.[1]?.replace(/``/g, '`');
      if (column === undefined) continue;
      const qualified = `${db}.${t}`;
      let columns = byTable.get(qualified);
      if (!columns) {
        columns = new Set();
        byTable.set(qualified, columns);
      }
      columns.add(column);
    }
    this.#byTable = byTable;
  }

  /** The JSON columns of a table (none: undefined). */
  of(database: string, table: string): ReadonlySet<string> | undefined {
    return this.#byTable.get(`${database}.${table}`);
  }
}
