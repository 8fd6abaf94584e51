import { createHash } from 'node:crypto';
import type { SourcePosition } from './position.ts';

/**
 * Column kinds: the converter-neutral type of a captured column, and the canonical JavaScript value
 * each one carries through the pipeline (the same on the source after reading the binlog and on the
 * sink after decoding Avro, so every stage sees one representation):
 *
 * | kind      | value                                                  |
 * |-----------|--------------------------------------------------------|
 * | int32     | number                                                 |
 * | int64     | bigint                                                 |
 * | decimal   | string, exact (`-123.4500`); also BIGINT UNSIGNED      |
 * | float32/64| number                                                 |
 * | boolean   | boolean (BIT(1))                                       |
 * | string    | string (enum/set values are strings too)               |
 * | bytes     | Buffer                                                 |
 * | date      | string `YYYY-MM-DD`                                    |
 * | time      | string `[-]HH:MM:SS.ffffff` (may exceed 24 h)          |
 * | datetime  | string `YYYY-MM-DDTHH:MM:SS.ffffff` (no zone)          |
 * | timestamp | string `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC instant)     |
 * | json      | string, the JSON text exactly as stored                |
 * | geometry  | GeometryValue: the WKB and the SRID as the server stores them |
 */
export type ColumnKind = 'int32' | 'int64' | 'decimal' | 'float32' | 'float64' | 'boolean' | 'string' | 'bytes' | 'date' | 'time' | 'datetime' | 'timestamp' | 'json' | 'geometry';

/**
 * A GEOMETRY value (any of its subtypes) as MySQL/MariaDB store it: the SRID (0: none given) and
 * the OGC WKB, which carries the exact subtype of the value and of every collection member.
 */
export interface GeometryValue {
  wkb: Buffer;
  srid: number;
}

export type ColumnValue = number | bigint | string | boolean | Buffer | GeometryValue | null;

export function isGeometry(value: unknown): value is GeometryValue {
  return typeof value === 'object' && value !== null && 'wkb' in value && 'srid' in value;
}

/** The server's own storage form: 4-byte little-endian SRID, then the WKB (what `HEX(g)` shows). */
export function storedGeometry(value: GeometryValue): Buffer {
  const srid = Buffer.alloc(4);
  srid.writeUInt32LE(value.srid);
  return Buffer.concat([srid, value.wkb]);
}
export type Row = Record<string, ColumnValue>;

export interface ColumnDef {
  name: string;
  kind: ColumnKind;
  /** The server's type as text (`decimal(10,2) unsigned`), for docs and errors. */
  sqlType: string;
  /** decimal only. */
  precision?: number;
  scale?: number;
  /** enum/set only: the allowed values. */
  symbols?: string[];
  optional: boolean;
  /**
   * date, datetime and timestamp only: the value a zero or partial date (`0000-00-00`,
   * `2024-00-10`) becomes, in this kind's canonical form; absent: null. Set from ZERO_DATES, and
   * always for key columns, which cannot be null.
   */
  zeroDate?: string;
}

export interface TableSchema {
  database: string;
  table: string;
  columns: ColumnDef[];
  /** Names of the key columns, in key order; empty for keyless tables. */
  key: string[];
  /** Changes whenever the column list or any type changes; keys schema caches. */
  fingerprint: string;
}

export type Op = 'c' | 'u' | 'd' | 'r';

/** One row change: what every stage passes to the next. */
export interface ChangeEvent {
  op: Op;
  schema: TableSchema;
  before: Row | null;
  after: Row | null;
  /** Where the row's event starts in the binlog, and its ordinal in the event. */
  position: SourcePosition;
  /** GTID of the transaction, when the server has one. */
  gtid: string | undefined;
  /** Commit time on the source, ms since the epoch. */
  tsMs: number;
  /** 'true' for initial snapshot rows, 'last' for the final one of it, 'incremental' for incremental snapshot rows, 'false' when streaming. */
  snapshot: 'true' | 'last' | 'incremental' | 'false';
  serverId: number;
  /** Where the event stands in its binlog transaction (TRANSACTION_METADATA=true). */
  transaction?: { id: string; totalOrder: number; tableOrder: number };
  /** Set by a `route` transform: the Kafka topic (source) or the topic the index name is derived from (sink). */
  topic?: string;
  /** Set by an `index_router` transform on the sink: the Elasticsearch index, overriding INDEX_NAME_TEMPLATE. */
  index?: string;
  /** Set by `unwrap` on the source: the record's value is the `after` row alone, not the envelope. */
  flat?: boolean;
  /** On the sink: the record's key as decoded (null: a table without key). */
  key?: Row | null;
}

export function keyOf(event: ChangeEvent): Row {
  const row = event.after ?? event.before;
  if (!row) throw new TypeError('change event without a row image');
  const key: Row = {};
  for (const name of event.schema.key) key[name] = row[name] ?? null;
  return key;
}

/** Changes whenever the column list, any type or the key changes; keys schema caches. */
export function schemaFingerprint(columns: ColumnDef[], key: string[]): string {
  const text = JSON.stringify([columns.map((c) => [c.name, c.kind, c.sqlType, c.optional, c.symbols ?? null]), key]);
  return createHash('sha1').update(text).digest('hex').slice(0, 16);
}
