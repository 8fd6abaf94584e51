import mysql from 'mysql2/promise';
import type { ChangeEvent, Row, TableSchema } from '../core/change-event.ts';
import { CdcError, errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { SourcePosition, type SerializedPosition } from '../core/position.ts';
import type { MysqlConnectionOptions } from './binlog-reader.ts';
import { canonicalValue, type BinlogColumn } from './column-types.ts';
import { deriveTableSchema } from './table-schema.ts';

/**
 * Snapshot progress, stored with the position in the offsets topic and committed in the same
 * Kafka transaction as the rows it covers, so a restart continues after the last committed chunk.
 */
export interface SnapshotProgress {
  /** Where streaming starts once the snapshot is done: the first read view's binlog position. */
  streamFrom: SerializedPosition;
  /** Every table of the snapshot, `database.table`, in snapshot order. */
  tables: string[];
  done: string[];
  /** The table being read and the key of the last row committed (JSON-safe, see keyJson). */
  current?: { table: string; lastKey: unknown[]; rows: number };
  startedAt: number;
}

export interface SnapshotChunk {
  events: ChangeEvent[];
  progress: SnapshotProgress;
}

export interface TableProgress {
  rowsDone: number;
  rowsEstimated: number;
  done: boolean;
}

/**
 * A lock-free, chunked, resumable initial snapshot (MariaDB). One connection holds a
 * `START TRANSACTION WITH CONSISTENT SNAPSHOT` read view; MariaDB reports the binlog position of
 * exactly that view (`binlog_snapshot_file/position`), so no lock is taken and writers never wait.
 * Each table is read in primary-key order, `chunkRows` rows at a time; each chunk becomes one
 * Kafka transaction together with the progress above.
 *
 * Rows carry the read view's position as their version, which sorts below every change streamed
 * after it. After a crash a new read view (a later position) serves the remaining chunks while
 * streaming still starts at the first view's position: the changes in between reach the topics
 * again, and in Elasticsearch they are refused as stale wherever the snapshot row is newer.
 * The cost of one long read view is InnoDB undo history kept for its duration.
 */
export class InitialSnapshot {
  readonly #connection: MysqlConnectionOptions;
  readonly #captures: (database: string, table: string) => boolean;
  readonly #chunkRows: number;
  readonly #serverId: number;
  readonly #log: Logger;
  readonly progress = new Map<string, TableProgress>();
  /** When this process started a table, and the rows already done then (a resumed table's rate counts only its own rows). */
  readonly tableStartedAt = new Map<string, { ms: number; rows: number }>();

  constructor(connection: MysqlConnectionOptions, options: { captures: (database: string, table: string) => boolean; chunkRows: number; serverId: number }, log: Logger) {
    this.#connection = connection;
    this.#captures = options.captures;
    this.#chunkRows = options.chunkRows;
    this.#serverId = options.serverId;
    this.#log = log;
  }

  /**
   * Yields the snapshot chunk by chunk, resuming `resume` when given. The caller commits each
   * chunk (rows and progress) before asking for the next; the last chunk's progress has every
   * table done.
   */
  async *chunks(resume: SnapshotProgress | undefined, signal: AbortSignal): AsyncGenerator<SnapshotChunk> {
    const conn = await mysql.createConnection({
      ...this.#connection,
      connectTimeout: 10_000,
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
      jsonStrings: true,
      charset: 'utf8mb4',
    } as mysql.ConnectionOptions);
    try {
      await conn.query("SET SESSION time_zone = '+00:00'");
      await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT');
      const view = await readViewPosition(conn);
      const tables = resume?.tables ?? (await this.#capturedTables(conn));
      let progress: SnapshotProgress = resume ?? { streamFrom: view.toJSON(), tables, done: [], startedAt: Date.now() };
      this.#log.info({ readView: view.toJSON(), streamFrom: progress.streamFrom, tables: tables.length, done: progress.done.length, resumed: Boolean(resume) }, resume ? 'resuming snapshot' : 'starting snapshot');
      for (const qualified of tables) {
        this.progress.set(qualified, { rowsDone: 0, rowsEstimated: 0, done: progress.done.includes(qualified) });
      }
      for (const qualified of tables) {
        if (progress.done.includes(qualified)) continue;
        const [database, table] = splitQualified(qualified);
        const schema = await tableSchema(conn, database, table);
        const state = this.progress.get(qualified)!;
        state.rowsEstimated = await estimatedRows(conn, database, table);
        // A keyless table has no resumable order: after a restart it is read again from its start.
        const resumes = progress.current?.table === qualified && schema.key.length > 0;
        let lastKey = resumes ? progress.current!.lastKey.map(keyParam) : undefined;
        state.rowsDone = resumes ? progress.current!.rows : 0;
        this.tableStartedAt.set(qualified, { ms: Date.now(), rows: state.rowsDone });
        for (;;) {
          if (signal.aborted) return;
          const rows = await this.#readChunk(conn, schema, lastKey, state.rowsDone);
          const tableDone = rows.length < this.#chunkRows;
          const events = rows.map((row): ChangeEvent => ({
            op: 'r',
            schema,
            before: null,
            after: row,
            position: view,
            gtid: undefined,
            tsMs: Date.now(),
            snapshot: 'true',
            serverId: this.#serverId,
          }));
          state.rowsDone += rows.length;
          const last = rows.at(-1);
          if (last) lastKey = schema.key.map((k) => keyParam(keyJson(last[k])));
          progress = tableDone
            ? { ...progress, done: [...progress.done, qualified], current: undefined }
            : { ...progress, current: { table: qualified, lastKey: lastKey!.map(keyJson), rows: state.rowsDone } };
          if (tableDone) state.done = true;
          if (progress.done.length === tables.length && events.length > 0) events.at(-1)!.snapshot = 'last';
          yield { events, progress };
          if (tableDone) break;
        }
        this.#log.info({ table: qualified, rows: state.rowsDone }, 'snapshot of table done');
      }
      // Nothing to read still ends the snapshot with one (empty) commit of the position.
      if (tables.length === 0) yield { events: [], progress };
    } catch (error) {
      throw snapshotError(error);
    } finally {
      await conn.query('COMMIT').catch(() => undefined);
      await conn.end().catch(() => undefined);
    }
  }

  /**
   * The next rows in key order after `lastKey`. A composite key uses the expanded form
   * `(a > ?) OR (a = ? AND b > ?)`, which every MariaDB/MySQL version serves from the index.
   * A keyless table is paged by offset, which is stable only inside one read view.
   */
  async #readChunk(conn: mysql.Connection, schema: TableSchema, lastKey: unknown[] | undefined, offset: number): Promise<Row[]> {
    const id = (name: string) => conn.escapeId(name);
    const columns = schema.columns.map((c) => id(c.name)).join(', ');
    const from = `${id(schema.database)}.${id(schema.table)}`;
    let sql: string;
    const params: unknown[] = [];
    if (schema.key.length === 0) {
      sql = `SELECT ${columns} FROM ${from} LIMIT ${this.#chunkRows} OFFSET ${offset}`;
    } else {
      const order = schema.key.map(id).join(', ');
      let where = '';
      if (lastKey) {
        const alternatives = schema.key.map((name, i) => {
          const equal = schema.key.slice(0, i).map((k, j) => {
            params.push(lastKey[j]);
            return `${id(k)} = ?`;
          });
          params.push(lastKey[i]);
          return `(${[...equal, `${id(name)} > ?`].join(' AND ')})`;
        });
        where = ` WHERE ${alternatives.join(' OR ')}`;
      }
      sql = `SELECT ${columns} FROM ${from}${where} ORDER BY ${order} LIMIT ${this.#chunkRows}`;
    }
    const [rows] = await conn.query({ sql, values: params });
    return (rows as Array<Record<string, unknown>>).map((raw) => {
      const row: Row = {};
      for (const column of schema.columns) row[column.name] = canonicalValue(column, raw[column.name]);
      return row;
    });
  }

  async #capturedTables(conn: mysql.Connection): Promise<string[]> {
    const [rows] = await conn.query(
      "SELECT TABLE_SCHEMA AS db, TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') ORDER BY TABLE_SCHEMA, TABLE_NAME",
    );
    return (rows as Array<{ db: string; t: string }>).filter((r) => this.#captures(r.db, r.t)).map((r) => `${r.db}.${r.t}`);
  }
}

/** A lost connection is retried (the snapshot resumes); an SQL error (privileges, a dropped table) is not. */
function snapshotError(error: unknown): CdcError {
  if (error instanceof CdcError) return error;
  const { code, fatal } = error as { code?: string; fatal?: boolean };
  if (fatal || /^(ECONN|ETIMEDOUT|EPIPE|PROTOCOL_)/.test(code ?? '')) {
    return new CdcError('SOURCE_UNREACHABLE', `Snapshot connection failed: ${errorMessage(error)}`, { cause: error, retriable: true });
  }
  return new CdcError('SNAPSHOT_FAILED', `Snapshot query failed: ${errorMessage(error)}`, {
    cause: error,
    hint: 'Check that MYSQL_USER has SELECT on every captured table and that the tables still exist; the snapshot resumes from its last committed chunk once fixed.',
  });
}

/** The binlog position of the transaction's read view (MariaDB), with its GTID position. */
async function readViewPosition(conn: mysql.Connection): Promise<SourcePosition> {
  const [rows] = await conn.query("SHOW STATUS LIKE 'binlog_snapshot_%'");
  const status = new Map((rows as Array<{ Variable_name: string; Value: string }>).map((r) => [r.Variable_name.toLowerCase(), r.Value]));
  const file = status.get('binlog_snapshot_file');
  const pos = Number(status.get('binlog_snapshot_position'));
  if (!file || !Number.isFinite(pos)) {
    throw new CdcError('SOURCE_PRECONDITION_FAILED', 'The server does not report the binlog position of a consistent snapshot (binlog_snapshot_file/position)', {
      hint: 'Lock-free snapshots need MariaDB 10.0+ with the binlog on. On MySQL set SNAPSHOT_MODE=never and load existing rows separately (MySQL snapshots are not supported yet).',
    });
  }
  const [gtidRows] = await conn.query('SELECT BINLOG_GTID_POS(?, ?) AS gtids', [file, pos]);
  const gtids = (gtidRows as Array<{ gtids: string | null }>)[0]?.gtids ?? undefined;
  return new SourcePosition(file, pos, 0, gtids || undefined);
}

/** A table's schema from information_schema, converted exactly as the binlog path converts it. */
async function tableSchema(conn: mysql.Connection, database: string, table: string): Promise<TableSchema> {
  const [rows] = await conn.query(
    'SELECT COLUMN_NAME, COLUMN_TYPE, COLUMN_KEY FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION',
    [database, table],
  );
  const [keyRows] = await conn.query(
    "SELECT COLUMN_NAME FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' ORDER BY SEQ_IN_INDEX",
    [database, table],
  );
  const columns = (rows as Array<{ COLUMN_NAME: string; COLUMN_TYPE: string }>).map((r): BinlogColumn => {
    const type = r.COLUMN_TYPE;
    const values = /^(enum|set)\((.*)\)$/i.exec(type);
    const symbols = values ? [...values[2]!.matchAll(/'((?:[^']|'')*)'/g)].map((m) => m[1]!.replace(/''/g, "'")) : undefined;
    return { COLUMN_NAME: r.COLUMN_NAME, COLUMN_TYPE: type, ...(values?.[1]!.toLowerCase() === 'enum' ? { ENUM_VALUES: symbols } : values ? { SET_VALUES: symbols } : {}) };
  });
  const names = columns.map((c) => c.COLUMN_NAME);
  const primaryKey = (keyRows as Array<{ COLUMN_NAME: string }>).map((r) => names.indexOf(r.COLUMN_NAME));
  return deriveTableSchema(database, table, columns, [], primaryKey.length > 0 ? primaryKey : undefined);
}

async function estimatedRows(conn: mysql.Connection, database: string, table: string): Promise<number> {
  const [rows] = await conn.query('SELECT TABLE_ROWS AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [database, table]);
  return Number((rows as Array<{ n: number | string | null }>)[0]?.n ?? 0);
}

function splitQualified(qualified: string): [string, string] {
  const dot = qualified.indexOf('.');
  return [qualified.slice(0, dot), qualified.slice(dot + 1)];
}

/** Key values in the offsets JSON: bigints as `{n}`, binary as `{b64}`; everything else as is. */
function keyJson(value: unknown): unknown {
  if (typeof value === 'bigint') return { n: value.toString() };
  if (Buffer.isBuffer(value)) return { b64: value.toString('base64') };
  return value;
}

function keyParam(value: unknown): unknown {
  if (value && typeof value === 'object' && 'n' in value) return String((value as { n: string }).n);
  if (value && typeof value === 'object' && 'b64' in value) return Buffer.from(String((value as { b64: string }).b64), 'base64');
  return value;
}
