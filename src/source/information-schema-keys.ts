import mysql from 'mysql2/promise';
import type { MysqlConnectionOptions } from '../core/mysql-options.ts';

/**
 * Primary keys from information_schema, for servers with binlog_row_metadata=MINIMAL, whose
 * TableMap events do not carry them. Loaded before the reader starts and again after every DDL;
 * this describes the tables as they are *now*, not as they were when older rows were written:
 * the race docs/schema-evolution.md describes.
 */
export class InformationSchemaKeys {
  readonly #connection: MysqlConnectionOptions;
  #keys = new Map<string, string[]>();

  constructor(connection: MysqlConnectionOptions) {
    this.#connection = connection;
  }

  async load(): Promise<void> {
    const conn = await mysql.createConnection({ ...this.#connection, connectTimeout: 10_000 });
    try {
      const [rows] = await conn.query(
        "SELECT TABLE_SCHEMA AS db, TABLE_NAME AS t, COLUMN_NAME AS c FROM information_schema.STATISTICS WHERE INDEX_NAME = 'PRIMARY' ORDER BY TABLE_SCHEMA, TABLE_NAME, SEQ_IN_INDEX",
      );
      const keys = new Map<string, string[]>();
      for (const { db, t, c } of rows as Array<{ db: string; t: string; c: string }>) {
        const qualified = `${db}.${t}`;
        keys.set(qualified, [...(keys.get(qualified) ?? []), c]);
      }
      this.#keys = keys;
    } finally {
      await conn.end().catch(() => undefined);
    }
  }

  /** Column indexes of the table's primary key, or undefined when it has none (or a key column is unknown). */
  indexesOf(database: string, table: string, columnNames: string[]): number[] | undefined {
    const key = this.#keys.get(`${database}.${table}`);
    const indexes = key?.map((name) => columnNames.indexOf(name));
    return indexes && !indexes.includes(-1) ? indexes : undefined;
  }
}
