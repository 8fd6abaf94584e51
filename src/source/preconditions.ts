import mysql from 'mysql2/promise';
import { CdcError } from '../core/errors.ts';
import { mysqlConnectError } from '../core/mysql-errors.ts';
import type { MysqlConnectionOptions } from '../core/mysql-options.ts';

export interface ServerFacts {
  connector: 'mariadb' | 'mysql';
  version: string;
  serverId: number;
  rowMetadata: string;
}

interface Requirement {
  variable: string;
  expected: string;
  fix: string;
}

const REQUIRED: Requirement[] = [
  { variable: 'log_bin', expected: '1', fix: 'start the server with log-bin (my.cnf: `log_bin = mysql-bin`); it cannot be changed at run time' },
  { variable: 'binlog_format', expected: 'ROW', fix: "SET GLOBAL binlog_format = 'ROW' (and binlog_format = ROW in my.cnf)" },
  { variable: 'binlog_row_image', expected: 'FULL', fix: "SET GLOBAL binlog_row_image = 'FULL' (and binlog_row_image = FULL in my.cnf)" },
];

/**
 * Checks that the server can serve row-based change capture. Every failing setting is reported
 * at once with its current value and the statement that fixes it.
 */
export async function checkSource(connection: MysqlConnectionOptions, replicaServerId: number): Promise<ServerFacts> {
  let conn: mysql.Connection;
  try {
    conn = await mysql.createConnection({ ...connection, connectTimeout: 10_000 });
  } catch (error) {
    throw mysqlConnectError(error, connection);
  }
  try {
    const [rows] = await conn.query(
      'SELECT @@log_bin AS log_bin, @@binlog_format AS binlog_format, @@binlog_row_image AS binlog_row_image, @@binlog_row_metadata AS binlog_row_metadata, @@server_id AS server_id, VERSION() AS version',
    );
    const vars = (rows as Array<Record<string, unknown>>)[0]!;
    const problems = REQUIRED.filter((r) => String(vars[r.variable]).toUpperCase() !== r.expected).map((r) => `${r.variable} is ${String(vars[r.variable])}, needs ${r.expected}: ${r.fix}`);
    problems.push(...(await missingPrivileges(conn, connection.user)));
    if (Number(vars.server_id) === replicaServerId) {
      problems.push(`server_id of the server is ${replicaServerId}, the same as this reader's MYSQL_SERVER_ID: choose another MYSQL_SERVER_ID`);
    }
    if (problems.length > 0) {
      throw new CdcError('SOURCE_PRECONDITION_FAILED', `The server is not ready for change capture:\n  - ${problems.join('\n  - ')}`, {
        hint: 'Fix the settings above and restart the source. `cdc check-source` re-runs this check.',
        details: { problems },
      });
    }
    const version = String(vars.version);
    return {
      connector: /mariadb/i.test(version) ? 'mariadb' : 'mysql',
      version,
      serverId: Number(vars.server_id),
      rowMetadata: String(vars.binlog_row_metadata ?? 'MINIMAL').toUpperCase(),
    };
  } finally {
    await conn.end().catch(() => undefined);
  }
}

/**
 * The privileges a binlog reader needs, read from SHOW GRANTS (the grant lines only — they can
 * carry a password hash, which is never logged). MariaDB 10.5+ calls REPLICATION CLIENT
 * BINLOG MONITOR.
 */
async function missingPrivileges(conn: mysql.Connection, user: string): Promise<string[]> {
  const [rows] = await conn.query('SHOW GRANTS');
  const grants = (rows as Array<Record<string, string>>).map((row) => Object.values(row)[0] ?? '');
  const global = grants
    .filter((g) => / ON \*\.\* /i.test(g))
    .join(' ')
    .toUpperCase();
  const any = grants.join(' ').toUpperCase();
  if (global.includes('ALL PRIVILEGES')) return [];
  const problems: string[] = [];
  const grant = (privilege: string) => `GRANT ${privilege} ON *.* TO '${user}'@'<host>'`;
  if (!global.includes('REPLICATION SLAVE')) problems.push(`user ${user} lacks REPLICATION SLAVE (needed to read the binlog): ${grant('REPLICATION SLAVE')}`);
  if (!/REPLICATION CLIENT|BINLOG MONITOR|SUPER/.test(global)) {
    problems.push(`user ${user} lacks REPLICATION CLIENT / BINLOG MONITOR (needed for SHOW BINARY LOGS): ${grant('REPLICATION CLIENT')} (MariaDB 10.5+: BINLOG MONITOR)`);
  }
  if (!/\bSELECT\b|ALL PRIVILEGES/.test(any)) problems.push(`user ${user} lacks SELECT on the captured tables: ${grant('SELECT')} (or per database)`);
  return problems;
}
