import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { binlogError, mysqlConnectError, snapshotQueryError } from '../../src/core/mysql-errors.ts';
import { type ClassifierRow, classifies } from '../helpers/classifier-table.ts';

/** An error as mysql2 builds it: the message, the server's errno and its symbolic code, whether the connection is gone. */
function mysqlError(message: string, fields: { errno?: number; code?: string; fatal?: boolean }): Error {
  return Object.assign(new Error(message), fields);
}

// mysql2 names errnos by MySQL's table: MariaDB's 4052 arrives as ER_INVALID_MFA_PLUGIN_SPECIFIED (seen
// from zongji against MariaDB 11 with two readers of one server id). The number is what counts.
const sameIdMariaDb = mysqlError("A slave with the same server_uuid/server_id is already connected; the first event 'binlog.000001' at 4", {
  errno: 4052,
  code: 'ER_INVALID_MFA_PLUGIN_SPECIFIED',
  fatal: true,
});
const sameIdMysql = mysqlError('A slave with the same server_uuid/server_id as this slave has connected to the master; the first event', {
  errno: 1236,
  code: 'ER_MASTER_FATAL_ERROR_READING_BINLOG',
  fatal: true,
});
const purged = mysqlError('Could not find first log file name in binary log index file', { errno: 1236, code: 'ER_MASTER_FATAL_ERROR_READING_BINLOG', fatal: true });
const gtidPurged = mysqlError("Error: connecting slave requested to start from GTID 0-101-7, which is not in the master's binlog", {
  errno: 1236,
  code: 'ER_MASTER_FATAL_ERROR_READING_BINLOG',
  fatal: true,
});
const refused = mysqlError('connect ECONNREFUSED 127.0.0.1:3306', { errno: -111, code: 'ECONNREFUSED', fatal: true });
const lost = mysqlError('Connection lost: The server closed the connection.', { code: 'PROTOCOL_CONNECTION_LOST', fatal: true });
const killed = mysqlError('Connection was killed', { errno: 1927, code: 'ER_CONNECTION_KILLED', fatal: true });
const deadlock = mysqlError('Deadlock found when trying to get lock; try restarting transaction', { errno: 1213, code: 'ER_LOCK_DEADLOCK' });
const tooMany = mysqlError('Too many connections', { errno: 1040, code: 'ER_CON_COUNT_ERROR', fatal: true });
const denied = mysqlError("Access denied for user 'cdc'@'localhost' (using password: YES)", { errno: 1045, code: 'ER_ACCESS_DENIED_ERROR', fatal: true });
const noReplication = mysqlError('Access denied; you need (at least one of) the REPLICATION SLAVE privilege(s) for this operation', { errno: 1227, code: 'ER_SPECIFIC_ACCESS_DENIED_ERROR' });
const noSelect = mysqlError("SELECT command denied to user 'cdc'@'localhost' for table `db`.`t`", { errno: 1142, code: 'ER_TABLEACCESS_DENIED_ERROR' });
const noTable = mysqlError("Table 'db.t' doesn't exist", { errno: 1146, code: 'ER_NO_SUCH_TABLE' });
// A message that reads like an outage but is an SQL error: message text must not decide.
const misleading = mysqlError("Unknown column 'connection_timeout' in 'field list'", { errno: 1054, code: 'ER_BAD_FIELD_ERROR' });

describe('binlog connection errors, by errno and code', () => {
  const table: ClassifierRow[] = [
    ['4052 (MariaDB: another reader took our server id)', sameIdMariaDb, 'SOURCE_FENCED', false],
    ['1236 naming a server id clash (MySQL)', sameIdMysql, 'SOURCE_FENCED', false],
    ['1236 (position not on the server)', purged, 'SOURCE_POSITION_PURGED', false],
    ['1236 (GTID not in the binlog)', gtidPurged, 'SOURCE_POSITION_PURGED', false],
    ['ECONNREFUSED', refused, 'SOURCE_UNREACHABLE', true],
    ['PROTOCOL_CONNECTION_LOST', lost, 'SOURCE_UNREACHABLE', true],
    ['1927 (connection killed)', killed, 'SOURCE_UNREACHABLE', true],
    ['1045 (credentials refused)', denied, 'AUTH_FAILED', false],
    ['1227 (no REPLICATION SLAVE)', noReplication, 'SOURCE_PRECONDITION_FAILED', false],
  ];
  classifies(table, binlogError);
});

describe('snapshot query errors', () => {
  const table: ClassifierRow[] = [
    ['ECONNREFUSED', refused, 'SOURCE_UNREACHABLE', true],
    ['PROTOCOL_CONNECTION_LOST', lost, 'SOURCE_UNREACHABLE', true],
    ['1213 (deadlock)', deadlock, 'SOURCE_UNREACHABLE', true],
    ['1040 (too many connections)', tooMany, 'SOURCE_UNREACHABLE', true],
    ['1142 (SELECT denied)', noSelect, 'SNAPSHOT_FAILED', false],
    ['1146 (no such table)', noTable, 'SNAPSHOT_FAILED', false],
    ['1054 whose text mentions a connection', misleading, 'SNAPSHOT_FAILED', false],
  ];
  classifies(table, (error) => snapshotQueryError(error, 'Reading db.t', 'Grant SELECT.'));
  it('keeps the hint for what retrying cannot fix', () => {
    assert.equal(snapshotQueryError(noSelect, 'Reading db.t', 'Grant SELECT.').hint, 'Grant SELECT.');
  });
});

describe('connect errors', () => {
  const at = { host: 'db.example', port: 3306 };
  it('1045 → AUTH_FAILED naming the settings, not retried', () => {
    const cdc = mysqlConnectError(denied, at);
    assert.equal(cdc.code, 'AUTH_FAILED');
    assert.equal(cdc.retriable, false);
    assert.match(cdc.message, /MYSQL_USER and MYSQL_PASSWORD/);
  });
  it('a certificate the client cannot verify → TLS_CERT_INVALID', () => {
    const cdc = mysqlConnectError(Object.assign(new Error('certificate has expired'), { code: 'CERT_HAS_EXPIRED' }), at);
    assert.equal(cdc.code, 'TLS_CERT_INVALID');
  });
  it('anything else → SOURCE_UNREACHABLE, retried, naming the server', () => {
    const cdc = mysqlConnectError(refused, at);
    assert.equal(cdc.code, 'SOURCE_UNREACHABLE');
    assert.equal(cdc.retriable, true);
    assert.match(cdc.message, /db\.example:3306/);
  });
});
