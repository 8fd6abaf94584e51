import { CdcError, errorMessage } from './errors.ts';
import type { MysqlConnectionOptions } from './mysql-options.ts';
import { authError, certificateError, clientCertificateRefusal } from './tls.ts';

/**
 * MySQL/MariaDB errors (mysql2, and zongji, which runs on mysql2), classified by the server's error
 * number (`errno`) and Node's or mysql2's error `code`, never by message text: numbers are stable
 * across versions and languages (lc_messages), texts are not. The one exception is named below.
 */

/** Node's network errno codes and mysql2's connection-state codes: the connection failed, not the statement. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'PROTOCOL_CONNECTION_LOST',
  'PROTOCOL_SEQUENCE_TIMEOUT',
  'PROTOCOL_ENQUEUE_AFTER_FATAL_ERROR',
  'PROTOCOL_ENQUEUE_AFTER_QUIT',
]);

/** Server errors that say nothing about the statement: the same statement can succeed on a new try. */
const TRANSIENT_ERRNOS = new Map<number, string>([
  [1040, 'ER_CON_COUNT_ERROR (too many connections)'],
  [1053, 'ER_SERVER_SHUTDOWN'],
  [1152, 'ER_ABORTING_CONNECTION'],
  [1158, 'ER_NET_READ_ERROR'],
  [1159, 'ER_NET_READ_INTERRUPTED'],
  [1160, 'ER_NET_ERROR_ON_WRITE'],
  [1161, 'ER_NET_WRITE_INTERRUPTED'],
  [1184, 'ER_NEW_ABORTING_CONNECTION'],
  [1203, 'ER_TOO_MANY_USER_CONNECTIONS'],
  [1205, 'ER_LOCK_WAIT_TIMEOUT'],
  [1213, 'ER_LOCK_DEADLOCK'],
  [1317, 'ER_QUERY_INTERRUPTED'],
  [1927, 'ER_CONNECTION_KILLED (MariaDB)'],
  [1969, 'ER_STATEMENT_TIMEOUT (MariaDB)'],
  [2002, 'CR_CONNECTION_ERROR'],
  [2003, 'CR_CONN_HOST_ERROR'],
  [2006, 'CR_SERVER_GONE_ERROR'],
  [2013, 'CR_SERVER_LOST'],
  [3024, 'ER_QUERY_TIMEOUT (MySQL)'],
]);

/** The credentials were refused (at connect). */
const ACCESS_DENIED = 1045;
/** A privilege is missing: the statement (or the binlog dump) is refused until it is granted. */
const PRIVILEGE_ERRNOS = new Set([1044, 1142, 1143, 1227, 1370]);
/** ER_MASTER_FATAL_ERROR_READING_BINLOG: the server cannot serve the requested binlog position. */
const BINLOG_FATAL = 1236;
/** ER_SLAVE_SAME_ID (MariaDB): another replica connected with our server id, and the server dropped us. */
const REPLICA_ID_TAKEN = 4052;

type MysqlErrorFields = { errno?: unknown; code?: unknown; fatal?: unknown };

/** What kind of failure a MySQL/MariaDB error is; the table the unit tests check. */
export type MysqlFailure = 'connection' | 'transient' | 'access-denied' | 'privilege' | 'position-purged' | 'replica-id-taken' | 'statement';

export function mysqlFailure(error: unknown): MysqlFailure {
  const { errno, code, fatal } = (error ?? {}) as MysqlErrorFields;
  if (errno === REPLICA_ID_TAKEN) return 'replica-id-taken';
  if (errno === BINLOG_FATAL) {
    // MySQL reports a replica-id clash as 1236 too, with the reason only in its text; MariaDB
    // uses 4052 (above). This is the one place a text decides, as in Debezium's handling of 1236.
    return /same server_uuid\/server_id|same server_id/i.test(errorMessage(error)) ? 'replica-id-taken' : 'position-purged';
  }
  if (errno === ACCESS_DENIED) return 'access-denied';
  if (typeof errno === 'number' && PRIVILEGE_ERRNOS.has(errno)) return 'privilege';
  if (typeof errno === 'number' && TRANSIENT_ERRNOS.has(errno)) return 'transient';
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return 'connection';
  // mysql2 marks errors after which the connection is unusable as fatal; a statement error is not.
  if (fatal === true) return 'connection';
  return 'statement';
}

const SOURCE_CREDENTIALS = 'MYSQL_USER and MYSQL_PASSWORD (and MYSQL_SSL_MODE for a user created REQUIRE SSL; MYSQL_SSL_CERT_FILE and MYSQL_SSL_KEY_FILE for REQUIRE X509, ISSUER or SUBJECT)';

/** Opening a connection failed: refused credentials and certificates stop the service; anything else is an outage it retries. */
export function mysqlConnectError(error: unknown, connection: Pick<MysqlConnectionOptions, 'host' | 'port'>): CdcError {
  if (error instanceof CdcError) return error;
  if (mysqlFailure(error) === 'access-denied') return authError(error, 'MySQL/MariaDB', SOURCE_CREDENTIALS);
  return (
    certificateError(error, 'MySQL/MariaDB', 'MYSQL_SSL_CA_FILE') ??
    clientCertificateRefusal(error, 'MySQL/MariaDB', 'MYSQL_SSL_CERT_FILE and MYSQL_SSL_KEY_FILE') ??
    new CdcError('SOURCE_UNREACHABLE', `Cannot connect to MySQL/MariaDB at ${connection.host}:${connection.port}: ${errorMessage(error)}`, {
      cause: error,
      retriable: true,
      hint: 'Check MYSQL_HOST/MYSQL_PORT and that the server is up; the source retries.',
    })
  );
}

/**
 * A snapshot query failed: a lost connection or a transient server condition is retried (the
 * snapshot resumes from its last committed chunk); an SQL error (privileges, a dropped table) is
 * not, and `hint` says what to do.
 */
export function snapshotQueryError(error: unknown, what: string, hint: string): CdcError {
  if (error instanceof CdcError) return error;
  const failure = mysqlFailure(error);
  if (failure === 'connection' || failure === 'transient') {
    return new CdcError('SOURCE_UNREACHABLE', `${what} connection failed: ${errorMessage(error)}`, { cause: error, retriable: true });
  }
  return new CdcError('SNAPSHOT_FAILED', `${what} query failed: ${errorMessage(error)}`, { cause: error, hint });
}

/** The binlog connection failed: purged positions and a second reader are never retried; connection trouble is. */
export function binlogError(error: unknown): CdcError {
  if (error instanceof CdcError) return error;
  const message = errorMessage(error);
  switch (mysqlFailure(error)) {
    case 'replica-id-taken':
      // Our replica server id derives from SOURCE_ID, so this is a second instance taking over: the same as being fenced in Kafka.
      return new CdcError('SOURCE_FENCED', `Another reader with this replica server id connected to the server: ${message}`, {
        cause: error,
        hint: 'Run one instance per SOURCE_ID, and give every reader of the server its own MYSQL_SERVER_ID.',
      });
    case 'position-purged':
      return new CdcError('SOURCE_POSITION_PURGED', `The server no longer has the binlog position this source needs: ${message}`, {
        cause: error,
        hint: 'The binlogs were purged while the source was behind or stopped. Re-snapshot the tables (or reset the source position with `cdc offsets reset`) and raise binlog retention (binlog_expire_logs_seconds / expire_logs_days).',
      });
    case 'access-denied':
      return authError(error, 'MySQL/MariaDB', SOURCE_CREDENTIALS);
    case 'privilege':
      return new CdcError('SOURCE_PRECONDITION_FAILED', `The server refused to send its binlog: ${message}`, {
        cause: error,
        hint: 'Grant MYSQL_USER REPLICATION SLAVE and REPLICATION CLIENT (GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO ...), then restart the source.',
      });
    case 'connection':
    case 'transient':
      return new CdcError('SOURCE_UNREACHABLE', `Lost the binlog connection: ${message}`, { cause: error, retriable: true });
    default:
      // An error of the stream itself (a malformed event, a checksum mismatch): reading again from the committed position may get past it.
      return new CdcError('SOURCE_UNREACHABLE', `Binlog reader failed: ${message}`, { cause: error, retriable: true });
  }
}
