import { randomUUID } from 'node:crypto';
import mysql from 'mysql2/promise';
import { mysqlConnectError } from '../core/mysql-errors.ts';
import { CdcError, errorMessage } from '../core/errors.ts';
import type { SnapshotRequestConfig } from '../config/snapshot-request.ts';
import { mysqlConnection } from '../source/mysql-connection.ts';
import { splitQualified } from '../source/table-reader.ts';

export interface SnapshotRequest {
  signalId: string;
  tables: string[];
}

/**
 * Asks the running source for an incremental snapshot of `tables` by writing Debezium's
 * `execute-snapshot` row into the signal table: the request is ordered with the binlog, so it
 * takes effect even if the source is down now, once it reads that far.
 */
export async function requestSnapshot(config: SnapshotRequestConfig, tables: string[]): Promise<SnapshotRequest> {
  const malformed = tables.filter((t) => !/^[^.\s]+\.[^.\s]+$/.test(t));
  if (tables.length === 0 || malformed.length > 0) {
    throw new CdcError('ARGUMENT_INVALID', `--tables must list \`database.table\` names${malformed.length ? `; not: ${malformed.join(', ')}` : ''}`);
  }
  const connection = mysqlConnection(config);
  const conn = await mysql.createConnection({ ...connection, connectTimeout: 10_000 }).catch((error: unknown) => {
    throw mysqlConnectError(error, connection);
  });
  try {
    const missing: string[] = [];
    for (const qualified of tables) {
      const [rows] = await conn.query('SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', splitQualified(qualified));
      if ((rows as unknown[]).length === 0) missing.push(qualified);
    }
    if (missing.length > 0) throw new CdcError('ARGUMENT_INVALID', `No such table: ${missing.join(', ')}`);
    const signalId = randomUUID();
    const [database, table] = splitQualified(config.SIGNAL_TABLE);
    await conn.query(`INSERT INTO ${conn.escapeId(database)}.${conn.escapeId(table)} (id, type, data) VALUES (?, 'execute-snapshot', ?)`, [
      signalId,
      JSON.stringify({ 'data-collections': tables, type: 'incremental' }),
    ]);
    return { signalId, tables };
  } catch (error) {
    if (error instanceof CdcError) throw error;
    throw new CdcError('SNAPSHOT_FAILED', `Cannot write the snapshot request into ${config.SIGNAL_TABLE}: ${errorMessage(error)}`, {
      cause: error,
      hint: "MYSQL_USER needs INSERT on SIGNAL_TABLE; the table must exist (see the source's SIGNAL_TABLE).",
    });
  } finally {
    await conn.end().catch(() => undefined);
  }
}
