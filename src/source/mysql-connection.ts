import mysql from 'mysql2/promise';
import type { SourceConfig } from '../config/source.ts';
import { mysqlConnectError } from '../core/mysql-errors.ts';
import { tlsOptions } from '../core/tls.ts';
import type { MysqlConnectionOptions } from '../core/mysql-options.ts';

/**
 * The connection settings of every MySQL/MariaDB connection of the source (queries through mysql2,
 * the binlog through zongji, which hands them to mysql2 as they are), TLS included:
 * MYSQL_SSL_MODE as Debezium names it, mapped onto mysql2's `ssl` options.
 */
export function mysqlConnection(
  config: Pick<SourceConfig, 'MYSQL_HOST' | 'MYSQL_PORT' | 'MYSQL_USER' | 'MYSQL_PASSWORD' | 'MYSQL_SSL_MODE' | 'MYSQL_SSL_CA_FILE' | 'MYSQL_SSL_CERT_FILE' | 'MYSQL_SSL_KEY_FILE'>,
): MysqlConnectionOptions {
  const base = { host: config.MYSQL_HOST, port: config.MYSQL_PORT, user: config.MYSQL_USER, password: config.MYSQL_PASSWORD };
  const mode = config.MYSQL_SSL_MODE;
  if (mode === 'disabled') return base;
  const tls = tlsOptions({ caFile: config.MYSQL_SSL_CA_FILE, certFile: config.MYSQL_SSL_CERT_FILE, keyFile: config.MYSQL_SSL_KEY_FILE, insecure: mode === 'required' });
  return { ...base, ssl: { ...tls, verifyIdentity: mode === 'verify_identity' } };
}

/** Runs `work` on a short-lived connection to the source server (a failed connect classified by core/mysql-errors.ts). */
export async function withConnection<T>(options: MysqlConnectionOptions, work: (conn: mysql.Connection) => Promise<T>): Promise<T> {
  const conn = await mysql.createConnection({ ...options, connectTimeout: 10_000 }).catch((error: unknown) => {
    throw mysqlConnectError(error, options);
  });
  try {
    return await work(conn);
  } finally {
    await conn.end().catch(() => undefined);
  }
}
