import mysql from 'mysql2/promise';
import { stackEnv } from './stack.ts';

/** A root connection to the test server: values come back as exact strings, times in UTC. */
export async function rootConnection(database?: string): Promise<mysql.Connection> {
  const env = stackEnv();
  const conn = await mysql.createConnection({
    host: env.MYSQL_HOST,
    port: Number(env.MYSQL_PORT),
    user: 'root',
    password: env.MYSQL_ROOT_PASSWORD,
    ...(database ? { database } : {}),
    multipleStatements: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    dateStrings: true,
    jsonStrings: true,
    timezone: 'Z',
    charset: 'utf8mb4',
  });
  await conn.query("SET time_zone = '+00:00'");
  return conn;
}

export async function freshDatabase(name: string): Promise<void> {
  const conn = await rootConnection();
  try {
    await conn.query(`DROP DATABASE IF EXISTS \`${name}\`; CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  } finally {
    await conn.end();
  }
}

export async function rows(conn: mysql.Connection, sql: string): Promise<Array<Record<string, unknown>>> {
  const [result] = await conn.query(sql);
  return result as Array<Record<string, unknown>>;
}
