import mysql from 'mysql2/promise';
import type { ColumnDef, Row, TableSchema } from '../core/change-event.ts';
import type { MysqlConnectionOptions } from '../core/mysql-options.ts';
import { canonicalValue, type BinlogColumn } from './column-types.ts';
import { countLossy, lossyKind } from './lossy-values.ts';
import { rowBytes } from './row-bytes.ts';
import { forEachRow } from './streamed-rows.ts';
import { deriveTableSchema, type SchemaRules } from './table-schema.ts';

/**
 * Reading tables with SELECT, for the initial and the incremental snapshot: rows come out in the
 * same canonical values as the binlog path (see column-types.ts), so a snapshot row and a streamed
 * change of the same row are indistinguishable downstream.
 */

/** A connection whose result values convert exactly like the binlog reader's (with exactTypeCast where a table needs it). */
export async function openTableConnection(connection: MysqlConnectionOptions): Promise<mysql.Connection> {
  const conn = await mysql.createConnection({
    ...connection,
    connectTimeout: 10_000,
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    jsonStrings: true,
    charset: 'utf8mb4',
  });
  await conn.query("SET SESSION time_zone = '+00:00'");
  return conn;
}

type TypeCast = (field: { type: string; buffer(): Buffer | null; string(): string | null }, next: () => unknown) => unknown;

/**
 * A geometry as the server stores it (SRID + WKB), the bytes the binlog reader gets too. A DOUBLE
 * through Number.parseFloat: mysql2's own parse of short numbers (digit by digit, then one
 * division) can be one ulp off (90.28571428571429 → 90.28571428571428).
 */
const exactTypeCast: TypeCast = (field, next) => {
  if (field.type === 'GEOMETRY') return field.buffer();
  if (field.type === 'DOUBLE') {
    const text = field.string();
    return text === null ? null : Number.parseFloat(text);
  }
  return next();
};

/**
 * The type cast of queries over `columns`: exactTypeCast when one of them needs it, else mysql2's
 * own conversion. A type cast costs a call and a closure per value of every column: reading a row
 * of seven columns none of which needs it took about 0.1 of 1.3 µs more with it.
 */
function typeCastFor(columns: readonly ColumnDef[]): TypeCast | undefined {
  return columns.some((c) => c.kind === 'geometry' || c.kind === 'float64') ? exactTypeCast : undefined;
}

/** A table's schema from information_schema, converted exactly as the binlog path converts it. */
export async function tableSchema(conn: mysql.Connection, database: string, table: string, rules: SchemaRules): Promise<TableSchema> {
  const [rows] = await conn.query('SELECT COLUMN_NAME, COLUMN_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION', [database, table]);
  const [keyRows] = await conn.query("SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX", [
    database,
    table,
  ]);
  const columns = (rows as Array<{ COLUMN_NAME: string; COLUMN_TYPE: string }>).map((r): BinlogColumn => {
    const type = r.COLUMN_TYPE;
    const values = /^(enum|set)\((.*)\)$/i.exec(type);
    const symbols = values ? [...values[2]!.matchAll(/'((?:[^']|'')*)'/g)].map((m) => m[1]!.replace(/''/g, "'")) : undefined;
    return { COLUMN_NAME: r.COLUMN_NAME, COLUMN_TYPE: type, ...(values?.[1]?.toLowerCase() === 'enum' ? { ENUM_VALUES: symbols } : values ? { SET_VALUES: symbols } : {}) };
  });
  const names = columns.map((c) => c.COLUMN_NAME);
  const primaryKey = (keyRows as Array<{ COLUMN_NAME: string }>).map((r) => names.indexOf(r.COLUMN_NAME));
  return deriveTableSchema(database, table, columns, [], rules.keys.keyOf(database, table, names, primaryKey), rules.zeroDates, rules.json.of(database, table));
}

export interface ChunkBounds {
  /** Rows strictly after this key (key order). */
  after?: unknown[] | undefined;
  /** Rows up to and including this key. */
  upTo?: unknown[] | undefined;
  limit: number;
  /** The reader stops taking rows once their estimated bytes reach this (always one row at least). */
  maxBytes: number;
  /** Keyless tables only: rows to skip. */
  offset?: number;
}

/** Where a chunk ends: where the next chunk starts and what was taken. */
export interface ChunkEnd {
  /** Rows taken (handed to the caller). */
  taken: number;
  /**
   * The last row's key as the server returned it (undefined when empty): the next chunk pages from
   * it, not from the canonical values, which can differ (a zero date's sentinel would skip rows).
   */
  lastKey: unknown[] | undefined;
  /** The rows' estimated bytes (row-bytes.ts). */
  bytes: number;
  /** Rows may follow this chunk within the bounds: the query returned its whole LIMIT, or the byte bound cut the chunk short. */
  more: boolean;
  /** Rows the query returned past the byte bound, read through and dropped: the next chunk reads them again. */
  dropped: number;
}

/** One chunk's rows, and where the next chunk starts. */
export interface Chunk extends ChunkEnd {
  rows: Row[];
}

/**
 * The next rows in key order within `bounds`. A composite key uses the expanded form
 * `(a > ?) OR (a = ? AND b > ?)`, which every MariaDB/MySQL version serves from the index.
 * A keyless table is paged by offset, which is stable only inside one read view.
 *
 * Rows are taken as they arrive until their estimated bytes reach `bounds.maxBytes`; the rest of
 * the result is read through and dropped (the protocol cannot end a query early without killing
 * it), which is why callers size the next LIMIT to what fitted (chunk-size.ts).
 */
export async function readChunk(conn: mysql.Connection, schema: TableSchema, bounds: ChunkBounds): Promise<Chunk> {
  const rows: Row[] = [];
  const end = await readChunkRows(conn, schema, bounds, (row) => rows.push(row));
  return { ...end, rows };
}

/**
 * readChunk() handing each canonical row to `onRow` as it arrives, so that the caller can turn it
 * into what it keeps (the snapshot encodes it at once) and no chunk of row objects is held. A
 * throw from `onRow` fails the read (forEachRow).
 */
export async function readChunkRows(conn: mysql.Connection, schema: TableSchema, bounds: ChunkBounds, onRow: (row: Row) => void): Promise<ChunkEnd> {
  const { sql, values } = chunkQuery(conn, schema, bounds);
  const names = schema.columns.map((c) => c.name);
  const typeCast = typeCastFor(schema.columns);
  let taken = 0;
  let bytes = 0;
  let received = 0;
  let last: Record<string, unknown> | undefined;
  await forEachRow(conn, { sql, values, typeCast }, (raw) => {
    received += 1;
    if (bytes >= bounds.maxBytes) return;
    bytes += rowBytes(raw, names);
    taken += 1;
    last = raw;
    onRow(canonicalRow(schema, raw));
  });
  const dropped = received - taken;
  return { taken, lastKey: last && schema.key.map((name) => last![name]), bytes, more: dropped > 0 || received >= bounds.limit, dropped };
}

function chunkQuery(conn: mysql.Connection, schema: TableSchema, bounds: ChunkBounds): { sql: string; values: unknown[] } {
  const id = (name: string) => conn.escapeId(name);
  const columns = schema.columns.map((c) => id(c.name)).join(', ');
  const from = `${id(schema.database)}.${id(schema.table)}`;
  const values: unknown[] = [];
  if (schema.key.length === 0) return { sql: `SELECT ${columns} FROM ${from} LIMIT ${bounds.limit} OFFSET ${bounds.offset ?? 0}`, values };
  const after = (key: unknown[]) =>
    `(${schema.key
      .map((name, i) => {
        const equal = schema.key.slice(0, i).map((k, j) => {
          values.push(key[j]);
          return `${id(k)} = ?`;
        });
        values.push(key[i]);
        return `(${[...equal, `${id(name)} > ?`].join(' AND ')})`;
      })
      .join(' OR ')})`;
  const where = [bounds.after && after(bounds.after), bounds.upTo && `NOT ${after(bounds.upTo)}`].filter(Boolean);
  return {
    sql: `SELECT ${columns} FROM ${from}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY ${schema.key.map(id).join(', ')} LIMIT ${bounds.limit}`,
    values,
  };
}

/** The largest key of a table now (undefined when empty): where an incremental snapshot of it stops. */
export async function largestKey(conn: mysql.Connection, schema: TableSchema): Promise<unknown[] | undefined> {
  const id = (name: string) => conn.escapeId(name);
  const keyColumns = schema.columns.filter((c) => schema.key.includes(c.name));
  const [rows] = await conn.query({
    sql: `SELECT ${schema.key.map(id).join(', ')} FROM ${id(schema.database)}.${id(schema.table)} ORDER BY ${schema.key.map((k) => `${id(k)} DESC`).join(', ')} LIMIT 1`,
    typeCast: typeCastFor(keyColumns),
  } as mysql.QueryOptions);
  const row = (rows as Array<Record<string, unknown>>)[0];
  // As the server returned it, like Chunk.lastKey: the bound is compared by the server.
  return row && schema.key.map((name) => row[name]);
}

/** A row as both readers hand it over, in canonical values; replacements of what its types cannot hold are counted (lossy-values.ts). */
export function canonicalRow(schema: TableSchema, raw: Record<string, unknown>): Row {
  const row: Row = {};
  for (const column of schema.columns) {
    const value = canonicalValue(column, raw[column.name]);
    row[column.name] = value;
    const lossy = lossyKind(column, value);
    if (lossy) countLossy(schema, column, lossy);
  }
  return row;
}

/** Every base table the source captures, `database.table`, in name order. */
export async function capturedTables(conn: mysql.Connection, captures: (database: string, table: string) => boolean): Promise<string[]> {
  const [rows] = await conn.query(
    "SELECT TABLE_SCHEMA AS db, TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY TABLE_SCHEMA, TABLE_NAME",
  );
  return (rows as Array<{ db: string; t: string }>).filter((r) => captures(r.db, r.t)).map((r) => `${r.db}.${r.t}`);
}

/** A table's row count and average row length as information_schema estimates them (0 when unknown). */
export async function tableStatistics(conn: mysql.Connection, database: string, table: string): Promise<{ rows: number; averageRowBytes: number }> {
  const [rows] = await conn.query('SELECT TABLE_ROWS AS n, AVG_ROW_LENGTH AS avg FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [database, table]);
  const stats = (rows as Array<{ n: number | string | null; avg: number | string | null }>)[0];
  return { rows: Number(stats?.n ?? 0), averageRowBytes: Number(stats?.avg ?? 0) };
}

export function splitQualified(qualified: string): [string, string] {
  const dot = qualified.indexOf('.');
  return [qualified.slice(0, dot), qualified.slice(dot + 1)];
}

/** Key values in the offsets JSON: bigints as `{n}`, binary as `{b64}`; everything else as is. */
export function keyJson(value: unknown): unknown {
  if (typeof value === 'bigint') return { n: value.toString() };
  if (Buffer.isBuffer(value)) return { b64: value.toString('base64') };
  return value;
}

/** A stored key value back as a query parameter. */
export function keyParam(value: unknown): unknown {
  if (value && typeof value === 'object' && 'n' in value) return String((value as { n: string }).n);
  if (value && typeof value === 'object' && 'b64' in value) return Buffer.from(String((value as { b64: string }).b64), 'base64');
  return value;
}
