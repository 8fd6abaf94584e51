import type mysql from 'mysql2/promise';
import type { ChangeEvent, TableSchema } from '../core/change-event.ts';
import { CdcError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { SourcePosition, type SerializedPosition } from '../core/position.ts';
import { snapshotQueryError } from '../core/mysql-errors.ts';
import type { MysqlConnectionOptions } from '../core/mysql-options.ts';
import type { SchemaRules } from './table-schema.ts';
import { type ChunkBound, firstChunkLimit, nextChunkLimit } from './chunk-size.ts';
import { type ChunkBounds, type ChunkEnd, capturedTables, keyJson, keyParam, openTableConnection, readChunkRows, splitQualified, tableSchema, tableStatistics } from './table-reader.ts';

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

/**
 * Where a chunk's rows go as they are read: the caller turns each into what it keeps (the
 * coordinator transforms and encodes it at once, snapshot-encoding.ts), so no chunk of row
 * objects is held.
 */
export interface ChunkRows {
  add(event: ChangeEvent): void;
}

export interface SnapshotChunk<R extends ChunkRows = ChunkRows> {
  /** What the chunk's rows became: the caller's, from `open` (chunks()). */
  rows: R;
  /** The chunk's table, `database.table`, and how many of its rows it holds. */
  table: string;
  count: number;
  /** The rows' estimated bytes, as read (readChunkRows). */
  bytes: number;
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
 * Each table is read in primary-key order in chunks of at most `chunk.maxRows` rows and about
 * `chunk.maxBytes` bytes (one row more at most; chunk-size.ts adapts the LIMIT to the rows'
 * size); chunks are committed in Kafka transactions together with the progress above.
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
  readonly #chunk: ChunkBound;
  readonly #chunkRead: (bytes: number) => void;
  readonly #serverId: number;
  readonly #rules: SchemaRules;
  readonly #log: Logger;
  readonly progress = new Map<string, TableProgress>();
  /** When this process started a table, and the rows already done then (a resumed table's rate counts only its own rows). */
  readonly tableStartedAt = new Map<string, { ms: number; rows: number }>();

  constructor(
    connection: MysqlConnectionOptions,
    options: { captures: (database: string, table: string) => boolean; chunk: ChunkBound; chunkRead: (bytes: number) => void; serverId: number; rules: SchemaRules },
    log: Logger,
  ) {
    this.#connection = connection;
    this.#captures = options.captures;
    this.#chunk = options.chunk;
    this.#chunkRead = options.chunkRead;
    this.#serverId = options.serverId;
    this.#rules = options.rules;
    this.#log = log;
  }

  /**
   * Yields the snapshot chunk by chunk, resuming `resume` when given; each chunk's rows go to a
   * fresh `open()` as they arrive. The caller commits each chunk (rows and progress) before asking
   * for the next; the last chunk's progress has every table done, and its last row is marked
   * `snapshot: 'last'`.
   */
  async *chunks<R extends ChunkRows>(resume: SnapshotProgress | undefined, signal: AbortSignal, open: () => R): AsyncGenerator<SnapshotChunk<R>> {
    const conn = await openTableConnection(this.#connection).catch((error: unknown) => {
      throw snapshotError(error);
    });
    try {
      await conn.query('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ');
      await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT');
      const view = await readViewPosition(conn);
      const tables = resume?.tables ?? (await capturedTables(conn, this.#captures));
      let progress: SnapshotProgress = resume ?? { streamFrom: view.toJSON(), tables, done: [], startedAt: Date.now() };
      this.#log.info(
        { readView: view.toJSON(), streamFrom: progress.streamFrom, tables: tables.length, done: progress.done.length, resumed: Boolean(resume) },
        resume ? 'resuming snapshot' : 'starting snapshot',
      );
      for (const qualified of tables) {
        this.progress.set(qualified, { rowsDone: 0, rowsEstimated: 0, done: progress.done.includes(qualified) });
      }
      for (const qualified of tables) {
        if (progress.done.includes(qualified)) continue;
        const [database, table] = splitQualified(qualified);
        const schema = await tableSchema(conn, database, table, this.#rules);
        const state = this.progress.get(qualified)!;
        const statistics = await tableStatistics(conn, database, table);
        state.rowsEstimated = statistics.rows;
        // A keyless table has no resumable order: after a restart it is read again from its start.
        const resumes = progress.current?.table === qualified && schema.key.length > 0;
        let lastKey = resumes ? progress.current!.lastKey.map(keyParam) : undefined;
        state.rowsDone = resumes ? progress.current!.rows : 0;
        this.tableStartedAt.set(qualified, { ms: Date.now(), rows: state.rowsDone });
        let limit = firstChunkLimit(this.#chunk, statistics.averageRowBytes);
        const read = (after: unknown[] | undefined, offset: number) => this.#readChunk(conn, schema, open(), { after, limit, maxBytes: this.#chunk.maxBytes, offset }, view);
        let reading = read(lastKey, state.rowsDone);
        for (;;) {
          const { end, rows, last } = await reading;
          if (signal.aborted) return;
          this.#chunkRead(end.bytes);
          if (end.dropped > 0) this.#log.debug({ table: qualified, rows: end.taken, bytes: end.bytes, dropped: end.dropped }, 'snapshot chunk cut at SNAPSHOT_CHUNK_BYTES');
          const tableDone = !end.more;
          limit = nextChunkLimit(this.#chunk, limit, { rows: end.taken, bytes: end.bytes });
          // The next chunk is read while the caller commits this one: the server's work and the
          // transfer overlap the Kafka transaction. Two chunks at most are held.
          if (!tableDone) {
            reading = read(end.lastKey ?? lastKey, state.rowsDone + end.taken);
            // Awaited at the next turn; a failure meanwhile must not be an unhandled rejection.
            reading.catch(() => undefined);
          }
          state.rowsDone += end.taken;
          if (end.lastKey) lastKey = end.lastKey;
          progress = tableDone
            ? { ...progress, done: [...progress.done, qualified], current: undefined }
            : { ...progress, current: { table: qualified, lastKey: lastKey!.map(keyJson), rows: state.rowsDone } };
          if (tableDone) state.done = true;
          if (last) {
            if (progress.done.length === tables.length) last.snapshot = 'last';
            rows.add(last);
          }
          yield { rows, table: qualified, count: end.taken, bytes: end.bytes, progress };
          if (tableDone) break;
        }
        this.#log.info({ table: qualified, rows: state.rowsDone }, 'snapshot of table done');
      }
      // Nothing to read still ends the snapshot with one (empty) commit of the position.
      if (tables.length === 0) yield { rows: open(), table: '', count: 0, bytes: 0, progress };
    } catch (error) {
      throw snapshotError(error);
    } finally {
      await conn.query('COMMIT').catch(() => undefined);
      await conn.end().catch(() => undefined);
    }
  }

  /**
   * Reads one chunk into `rows`. Its last row is held back and returned, not added: only once the
   * chunk is read is it known whether that row ends the snapshot (`snapshot: 'last'`).
   */
  async #readChunk<R extends ChunkRows>(
    conn: mysql.Connection,
    schema: TableSchema,
    rows: R,
    bounds: ChunkBounds,
    view: SourcePosition,
  ): Promise<{ end: ChunkEnd; rows: R; last: ChangeEvent | undefined }> {
    let last: ChangeEvent | undefined;
    const end = await readChunkRows(conn, schema, bounds, (row) => {
      if (last) rows.add(last);
      last = { op: 'r', schema, before: null, after: row, position: view, gtid: undefined, tsMs: Date.now(), snapshot: 'true', serverId: this.#serverId };
    });
    return { end, rows, last };
  }
}

function snapshotError(error: unknown): CdcError {
  return snapshotQueryError(
    error,
    'Snapshot',
    'Check that MYSQL_USER has SELECT on every captured table and that the tables still exist; the snapshot resumes from its last committed chunk once fixed.',
  );
}

/** The binlog position of the transaction's read view (MariaDB), with its GTID position. */
async function readViewPosition(conn: mysql.Connection): Promise<SourcePosition> {
  const [rows] = await conn.query("SHOW STATUS LIKE 'binlog_snapshot_%'");
  const status = new Map((rows as Array<{ Variable_name: string; Value: string }>).map((r) => [r.Variable_name.toLowerCase(), r.Value]));
  const file = status.get('binlog_snapshot_file');
  const pos = Number(status.get('binlog_snapshot_position'));
  if (!file || !Number.isFinite(pos)) {
    throw new CdcError('SOURCE_PRECONDITION_FAILED', 'The server does not report the binlog position of a consistent snapshot (binlog_snapshot_file/position)', {
      hint: 'Read-view snapshots need MariaDB 10.0+ with the binlog on. Elsewhere (MySQL) use SNAPSHOT_METHOD=incremental (or auto) with SIGNAL_TABLE.',
    });
  }
  const [gtidRows] = await conn.query('SELECT BINLOG_GTID_POS(?, ?) AS gtids', [file, pos]);
  const gtids = (gtidRows as Array<{ gtids: string | null }>)[0]?.gtids ?? undefined;
  return new SourcePosition(file, pos, 0, gtids || undefined);
}
