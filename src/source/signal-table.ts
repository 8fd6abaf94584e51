import type mysql from 'mysql2/promise';
import { CdcError } from '../core/errors.ts';
import { splitQualified } from './table-reader.ts';

/** The signal table's layout (Debezium's), for the hint of a missing or malformed one. */
function signalTableDdl(qualified: string): string {
  const [database, table] = splitQualified(qualified);
  return `CREATE TABLE \`${database}\`.\`${table}\` (id VARCHAR(64) PRIMARY KEY, type VARCHAR(32) NOT NULL, data TEXT)`;
}

/** SIGNAL_TABLE must exist with id, type and data columns before incremental snapshots can run. */
export async function checkSignalTable(conn: mysql.Connection, qualified: string): Promise<void> {
  const [database, table] = splitQualified(qualified);
  const [rows] = await conn.query('SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [database, table]);
  const columns = new Set((rows as Array<{ c: string }>).map((r) => r.c.toLowerCase()));
  const missing = ['id', 'type', 'data'].filter((c) => !columns.has(c));
  if (missing.length > 0) {
    throw new CdcError(
      'SOURCE_PRECONDITION_FAILED',
      columns.size === 0 ? `SIGNAL_TABLE ${qualified} does not exist (or MYSQL_USER cannot see it)` : `SIGNAL_TABLE ${qualified} lacks the column(s) ${missing.join(', ')}`,
      {
        hint: `Create it with: ${signalTableDdl(qualified)}; and grant MYSQL_USER SELECT, INSERT, DELETE on it.`,
      },
    );
  }
}
