import type mysql from 'mysql2/promise';
import { CdcError, errorMessage } from '../core/errors.ts';
import { SourcePosition } from '../core/position.ts';

/** The statement's name moved twice: MySQL 8.2+ and MariaDB 10.5.2+ renamed SHOW MASTER STATUS. */
const STATUS_STATEMENTS = ['SHOW BINARY LOG STATUS', 'SHOW BINLOG STATUS', 'SHOW MASTER STATUS'];

/**
 * The current end of the binlog as a position (with the server's GTID state), so a source told
 * to start at `latest` can store where that was before it reads anything: a restart then
 * resumes there instead of at a later "latest", and nothing in between is skipped.
 */
export async function binlogEnd(conn: mysql.Connection): Promise<SourcePosition> {
  let status: Record<string, unknown> | undefined;
  let lastError: unknown;
  for (const statement of STATUS_STATEMENTS) {
    try {
      const [rows] = await conn.query(statement);
      status = (rows as Array<Record<string, unknown>>)[0];
      break;
    } catch (error) {
      lastError = error; // a syntax error on servers that do not know this name
    }
  }
  if (!status) {
    throw new CdcError('SOURCE_PRECONDITION_FAILED', `Cannot read the binlog's end position: ${errorMessage(lastError) || 'the binlog is off'}`, {
      cause: lastError,
      hint: 'Turn the binlog on (log_bin) and grant MYSQL_USER REPLICATION CLIENT (BINLOG MONITOR on MariaDB).',
    });
  }
  // MySQL reports its GTID set in the status row; MariaDB keeps it in @@gtid_binlog_pos.
  let gtids = typeof status.Executed_Gtid_Set === 'string' ? status.Executed_Gtid_Set.replace(/\s+/g, '') : undefined;
  if (gtids === undefined) {
    const [rows] = await conn.query('SELECT @@gtid_binlog_pos AS pos').catch(() => [[]] as const);
    gtids = (rows as Array<{ pos?: string }>)[0]?.pos ?? undefined;
  }
  return new SourcePosition(String(status.File), Number(status.Position), 0, gtids || undefined);
}
