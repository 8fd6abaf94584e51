import { EventEmitter } from 'node:events';
import ZongJi from '@vlasky/zongji';
import type { ChangeEvent, Op, Row, TableSchema } from '../core/change-event.ts';
import { CdcError, errorMessage } from '../core/errors.ts';
import { binlogError } from '../core/mysql-errors.ts';
import type { MysqlConnectionOptions } from '../core/mysql-options.ts';
import { SourcePosition } from '../core/position.ts';
import { requestHeartbeats } from './binlog-heartbeat.ts';
import type { BinlogColumn } from './column-types.ts';
import { InformationSchemaKeys } from './information-schema-keys.ts';
import { CHANGE_OVERHEAD_BYTES } from './row-bytes.ts';
import { canonicalRow } from './table-reader.ts';
import { rowReader, type RowReader, type ZongjiTableMap as RowReaderTableMap } from './binlog-row-reader.ts';
import { rowReadersHooked } from './zongji-patches.ts';
import { TableSchemaCache, type SchemaRules } from './table-schema.ts';
import type { StreamOutput } from './stream-items.ts';

export interface BinlogReaderEvents {
  /** A commit that touched no captured table still moves the stored position forward. */
  progress: [SourcePosition];
  error: [CdcError];
}

interface TableMapInfo {
  schema: TableSchema | null;
  /** Whether zongji hands this table's rows over canonical already (its table map carries a row reader). */
  canonical: boolean;
}

/**
 * Reads the binlog through zongji and streams the row changes of the captured tables, one by one
 * and framed by their transaction's boundaries, into its output (the bounded queue): a transaction
 * of any size passes in bounded memory. After a restart inside a split transaction it skips the
 * changes of that transaction that were already committed (`from.event`).
 *
 * It tracks where every event starts in its file, because a change's version comes from that
 * position (see core/version.ts). MariaDB writes end_log_pos=0 on events inside a transaction, so
 * the start of such an event is the previous event's end plus nothing else: the reader counts
 * event sizes from the last event whose position the server stated.
 */
export class BinlogReader extends EventEmitter<BinlogReaderEvents> {
  readonly #zongji: ZongJi;
  readonly #serverId: number;
  readonly #captures: (database: string, table: string) => boolean;
  readonly #keys: SchemaRules['keys'];
  readonly #schemas: TableSchemaCache;
  readonly #tables = new Map<number, TableMapInfo>();
  readonly #output: StreamOutput;
  #file = '';
  #cursor = 0;
  /** The binlog epoch of the position start() was given: every position read carries it. */
  #epoch = 0;
  #open = false;
  #standalone = false;
  #gtid: string | undefined;
  /** Where the open transaction starts, with the GTID set before it. */
  #start: SourcePosition | undefined;
  /** A MySQL Gtid event's start: the transaction's BEGIN follows it. */
  #gtidEventStart: { pos: number; gtids: string | undefined } | undefined;
  /** Change events of the open transaction so far (skipped ones included). */
  #changes = 0;
  /** Whether its TransactionBegin went out. */
  #begun = false;
  /** Change events of the first transaction after start() that were committed before: not emitted again. */
  #skip = 0;
  #skippedByTable = new Map<string, number>();
  #stopped = false;
  readonly #pausedBy = new Set<string>();
  /**
   * When the last binlog event arrived, server heartbeats included: with `heartbeatSeconds` an
   * idle server still sends one that often, so a silence longer than that means a dead stream.
   */
  lastEventAt = Date.now();

  /** binlog_row_metadata=MINIMAL only: TableMaps carry no primary key. */
  readonly #informationSchemaKeys: InformationSchemaKeys | undefined;

  constructor(
    connection: MysqlConnectionOptions,
    serverId: number,
    captures: (database: string, table: string) => boolean,
    rules: SchemaRules,
    output: StreamOutput,
    options: { keysFromInformationSchema?: boolean; heartbeatSeconds?: number } = {},
  ) {
    super();
    this.#output = output;
    this.#serverId = serverId;
    this.#captures = captures;
    this.#keys = rules.keys;
    this.#schemas = new TableSchemaCache(rules.zeroDates, rules.json);
    this.#informationSchemaKeys = options.keysFromInformationSchema ? new InformationSchemaKeys(connection) : undefined;
    // dateStrings keeps DATETIME(6) microseconds; timezone 'Z' renders TIMESTAMPs as UTC;
    // jsonStrings keeps JSON text exact.
    this.#zongji = new ZongJi({ ...connection, dateStrings: true, timezone: 'Z', jsonStrings: true, charset: 'utf8mb4' } as never);
    this.#zongji.on('binlog', (event: unknown) => {
      this.lastEventAt = Date.now();
      try {
        this.#onEvent(event as BinlogEventLike);
      } catch (error) {
        this.#fail(error instanceof CdcError ? error : new CdcError('INTERNAL', `Binlog event handling failed: ${errorMessage(error)}`, { cause: error }));
      }
    });
    this.#zongji.on('error', (error: unknown) => this.#fail(binlogError(error)));
    if (options.heartbeatSeconds) requestHeartbeats(this.#zongji, options.heartbeatSeconds, (error) => this.#fail(binlogError(error)));
  }

  /**
   * Starts after `from`: by its GTID set when it has one, else by file and position. Inside a split
   * transaction (`from.event` > 0) that is the transaction's start, and its first `event` changes
   * are skipped.
   */
  async start(from: SourcePosition): Promise<void> {
    await this.#informationSchemaKeys?.load();
    this.#skip = from.event;
    this.#epoch = from.epoch;
    const options: Record<string, unknown> = { serverId: this.#serverId };
    if (from.gtids) options.gtidSet = from.gtids;
    else Object.assign(options, { filename: from.file, position: from.pos });
    this.lastEventAt = Date.now();
    this.#zongji.start(options as never);
    if (this.#pausedBy.size > 0) this.#socket('pause');
  }

  /**
   * Stops reading from the server socket until every pauser (`reason`: queue backpressure, an
   * operator, …) resumed. Nothing is lost: the server holds the rest of the binlog.
   */
  pause(reason = 'backpressure'): void {
    this.#pausedBy.add(reason);
    this.#socket('pause');
  }

  resume(reason = 'backpressure'): void {
    this.#pausedBy.delete(reason);
    if (this.#pausedBy.size > 0) return;
    this.#socket('resume');
    // The server could not send anything while paused: the stall clock restarts now.
    this.lastEventAt = Date.now();
  }

  get paused(): boolean {
    return this.#pausedBy.size > 0;
  }

  /** Whole seconds the server has sent nothing; 0 while paused (a paused reader reads nothing: that silence is ours). */
  get silentSeconds(): number {
    return this.paused ? 0 : Math.floor((Date.now() - this.lastEventAt) / 1000);
  }

  #socket(action: 'pause' | 'resume'): void {
    this.#binlogConnection?.[action]();
  }

  /** zongji's binlog connection (a mysql2 Connection; its typings hide it): null once stopped. */
  get #binlogConnection(): { pause(): void; resume(): void; stream?: { destroy(): void } } | null | undefined {
    return (this.#zongji as unknown as { connection?: { pause(): void; resume(): void; stream?: { destroy(): void } } | null }).connection;
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const socket = this.#binlogConnection?.stream;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      this.#zongji.once('stopped', () => {
        clearTimeout(timer);
        resolve();
      });
      this.#zongji.stop();
      // zongji's stop ends the binlog connection (mysql2 destroy() half-closes the socket and waits
      // for the server's end), but a socket paused for backpressure never reads that end: it stayed
      // open for good, and with it this reader and its full queue. Each in-process restart with a
      // full queue (the registry down while a large transaction streamed) leaked one, until the
      // source ran out of heap.
      socket?.destroy();
    });
  }

  #fail(error: CdcError): void {
    if (this.#stopped) return;
    this.emit('error', error);
  }

  #onEvent(event: BinlogEventLike): void {
    if (this.#stopped) return;
    const type = event.getTypeName();
    const start = this.#advance(event, type);
    switch (type) {
      case 'Rotate':
        this.#file = event.binlogName!;
        return;
      case 'MariadbGtid':
        this.#begin(event.gtid, start, this.#gtidSet);
        this.#standalone = Boolean(event.standalone);
        return;
      case 'Gtid':
        this.#gtid = event.gtid;
        this.#gtidEventStart = { pos: start, gtids: this.#gtidSet };
        return;
      case 'Query':
        return this.#onQuery(event, start);
      case 'TableMap':
        return this.#onTableMap(event);
      case 'WriteRows':
        return this.#onRows(event, start, 'c');
      case 'UpdateRows':
        return this.#onRows(event, start, 'u');
      case 'DeleteRows':
        return this.#onRows(event, start, 'd');
      case 'Xid':
      case 'XaPrepare':
        return this.#commit(event);
      default:
        return;
    }
  }

  /** Returns the start position of `event` in the current file and moves the cursor past it. */
  #advance(event: BinlogEventLike, type: string): number {
    if (type === 'Rotate') {
      this.#cursor = event.position ?? 4;
      return this.#cursor;
    }
    if (type === 'Heartbeat') {
      // A heartbeat states where the server's read of the named file stands: the end of the binlog
      // while it waits for new events (MariaDB sends them only then), or past transactions a GTID
      // dump skipped (MySQL). It emits nothing, so no position is ever stored from it; and it is
      // adopted only between transactions in the reader's own file, so it cannot move the cursor
      // of a transaction or into another file (positions above 4 GiB come as 0 and are ignored).
      if (!this.#open && event.binlogName === this.#file && event.nextPosition > 0) this.#cursor = event.nextPosition;
      return this.#cursor;
    }
    // zongji's `size` excludes the 19-byte event header and the checksum.
    const length = event.size + 19 + ((this.#zongji as unknown as { useChecksum?: boolean }).useChecksum ? 4 : 0);
    if (event.nextPosition > 0) {
      this.#cursor = event.nextPosition;
      return event.nextPosition - length;
    }
    // No stated position: an event inside a transaction on servers that write end_log_pos=0 there
    // (it occupies the next bytes), or an artificial event sent at connect time (it occupies none).
    const start = this.#cursor;
    if (this.#open) this.#cursor += length;
    return start;
  }

  /** zongji's executed GTID set: at a GTID event, every transaction before this one. */
  get #gtidSet(): string | undefined {
    return (this.#zongji as unknown as { gtidSet?: string }).gtidSet;
  }

  #begin(gtid: string | undefined, start: number, gtidsBefore: string | undefined): void {
    this.#open = true;
    this.#standalone = false;
    this.#gtid = gtid;
    this.#start = new SourcePosition(this.#file, start, 0, gtidsBefore, 0, this.#epoch);
    this.#changes = 0;
    this.#begun = false;
  }

  #onQuery(event: BinlogEventLike, start: number): void {
    const query = (event.query ?? '').trim().toUpperCase();
    if (query === 'BEGIN' || query.startsWith('XA START')) {
      // MySQL: the transaction starts at its Gtid event, which a resume by file must read too.
      const at = this.#gtidEventStart ?? { pos: start, gtids: this.#gtidSet };
      this.#gtidEventStart = undefined;
      this.#begin(this.#gtid ?? event.gtid, at.pos, at.gtids);
      return;
    }
    // COMMIT (non-transactional engines) and standalone statements (DDL) end their group.
    if (query === 'COMMIT' || this.#standalone || !this.#open) this.#commit(event);
    if (this.#informationSchemaKeys && /^(ALTER|CREATE|DROP|RENAME)\b/.test(query)) this.#reloadKeys(this.#informationSchemaKeys);
  }

  /** A DDL may have changed a primary key: read them again before the rows that follow. */
  #reloadKeys(keys: InformationSchemaKeys): void {
    this.pause();
    keys.load().then(
      () => this.resume(),
      (error: unknown) => this.#fail(new CdcError('SOURCE_UNREACHABLE', `Cannot read primary keys from information_schema: ${errorMessage(error)}`, { cause: error, retriable: true })),
    );
  }

  #onTableMap(event: BinlogEventLike): void {
    const tableId = event.tableId!;
    const entry = event.tableMap?.[tableId];
    if (entry) readGeometryAsStored(entry);
    const database = event.schemaName!;
    const table = event.tableName!;
    if (!entry || !this.#captures(database, table)) {
      if (entry) entry.cdcReadRow = undefined;
      this.#tables.set(tableId, { schema: null, canonical: false });
      return;
    }
    const columns = entry.columnSchemas as BinlogColumn[];
    const names = columns.map((c) => c.COLUMN_NAME);
    const key = this.#keys.keyOf(database, table, names, event.primaryKey ?? this.#informationSchemaKeys?.indexesOf(database, table, names));
    const schema = this.#schemas.get(database, table, columns, event.columnTypes ?? [], key);
    entry.cdcReadRow = rowReadersHooked ? rowReader(schema, entry as RowReaderTableMap) : undefined;
    this.#tables.set(tableId, { schema, canonical: entry.cdcReadRow !== undefined });
  }

  #onRows(event: BinlogEventLike, start: number, op: Op): void {
    const info = this.#tables.get(event.tableId!);
    const schema = info?.schema;
    if (!schema) return;
    const canonical = info.canonical;
    const rows = event.rows ?? [];
    if (rows.length === 0) return;
    const bytes = Math.ceil(event.size / rows.length) + CHANGE_OVERHEAD_BYTES;
    this.#output.expectBurst(bytes * rows.length * (op === 'u' ? 2 : 1));
    const gtid = this.#gtid ?? event.gtid;
    for (let i = 0; i < rows.length; i++) {
      const raw = rows[i] as Record<string, unknown> & { before?: Record<string, unknown>; after?: Record<string, unknown> };
      const before = op === 'c' ? null : rowOf(schema, op === 'u' ? raw.before! : raw, canonical);
      const after = op === 'd' ? null : rowOf(schema, op === 'u' ? raw.after! : raw, canonical);
      const position = new SourcePosition(this.#file, start, i, undefined, 0, this.#epoch);
      // An update that changes the primary key moves the row to another key: downstream that is a
      // delete of the old key and an insert of the new one (as Debezium emits it).
      if (op === 'u' && !sameKey(schema, before!, after!)) {
        this.#emit({ op: 'd', schema, before, after: null, position, gtid, tsMs: event.timestamp, snapshot: 'false', serverId: this.#serverId }, bytes);
        this.#emit({ op: 'c', schema, before: null, after, position, gtid, tsMs: event.timestamp, snapshot: 'false', serverId: this.#serverId }, bytes);
      } else {
        this.#emit({ op, schema, before, after, position, gtid, tsMs: event.timestamp, snapshot: 'false', serverId: this.#serverId }, bytes);
      }
    }
  }

  /** Emits a change, unless it is one of the first `#skip` of the first transaction (committed before a restart). */
  #emit(change: ChangeEvent, bytes: number): void {
    this.#changes++;
    if (this.#changes <= this.#skip) {
      const table = `${change.schema.database}.${change.schema.table}`;
      this.#skippedByTable.set(table, (this.#skippedByTable.get(table) ?? 0) + 1);
      return;
    }
    this.#beginOutput();
    this.#output.push(change, bytes);
  }

  #beginOutput(): void {
    if (this.#begun) return;
    this.#begun = true;
    const start = this.#start ?? new SourcePosition(this.#file, this.#cursor, 0, undefined, 0, this.#epoch);
    const skipped = Math.min(this.#skip, this.#changes);
    this.#output.push({ kind: 'begin', start, gtid: this.#gtid, skipped, skippedByTable: this.#skippedByTable }, 64);
  }

  #commit(event: BinlogEventLike): void {
    const end = new SourcePosition(this.#file, this.#cursor, 0, this.#gtidSet, 0, this.#epoch);
    const changes = this.#changes;
    const skip = this.#skip;
    this.#open = false;
    this.#standalone = false;
    this.#gtid = undefined;
    this.#start = undefined;
    this.#changes = 0;
    this.#skip = 0;
    this.#skippedByTable = new Map();
    if (skip > changes) {
      this.#fail(
        new CdcError('SOURCE_POSITION_INVALID', `The stored position says ${skip} changes of the transaction at its start were committed, but it has only ${changes}`, {
          hint: 'The binlog at the stored position is not the one the position was taken from (a server switch without GTIDs, or a changed TABLE_INCLUDE/EXCLUDE). Inspect it with `cdc offsets show`.',
        }),
      );
      return;
    }
    if (changes === 0) {
      this.emit('progress', end);
      return;
    }
    // Every change may have been committed before a restart: the commit still moves the position.
    this.#beginOutput();
    this.#begun = false;
    this.#output.push({ kind: 'commit', end, tsMs: event.timestamp }, 64);
  }
}

/** MySQL binlog type codes: a geometry value is written exactly like a BLOB's (length prefix, bytes). */
const MYSQL_TYPE_BLOB = 252;
const MYSQL_TYPE_GEOMETRY = 255;

/**
 * zongji decodes GEOMETRY values into coordinate arrays that lose the SRID and the subtype of
 * collection members. Its rows events read each value by the column entry of this very table map
 * object, and zongji emits a TableMap synchronously before it parses the next event: marking the
 * geometry columns as binary BLOBs here makes the rows that follow arrive as the stored bytes
 * (SRID + WKB). Done for every table (captured or not), so zongji's geometry decoder never runs.
 */
function readGeometryAsStored(entry: ZongjiTableMap): void {
  for (const column of entry.columns ?? []) {
    if (column.type === MYSQL_TYPE_GEOMETRY) {
      column.type = MYSQL_TYPE_BLOB;
      column.charset = null;
    }
  }
}

/** A row image in canonical values: as zongji's hook read it, or converted from zongji's values. */
function rowOf(schema: TableSchema, raw: Record<string, unknown>, canonical: boolean): Row {
  return canonical ? (raw as Row) : canonicalRow(schema, raw);
}

function sameKey(schema: TableSchema, a: Row, b: Row): boolean {
  return schema.key.every((name) => {
    const x = a[name];
    const y = b[name];
    return Buffer.isBuffer(x) && Buffer.isBuffer(y) ? x.equals(y) : x === y;
  });
}

/** zongji's per-table state, which its rows events decode values by. */
interface ZongjiTableMap {
  columnSchemas: unknown[];
  columns?: Array<{ type: number; charset: string | null }>;
  /** Read by zongji's patched rows events (zongji-patches.ts). */
  cdcReadRow?: RowReader | undefined;
}

/** The fields of zongji's events this reader uses (its typings model them per event class). */
interface BinlogEventLike {
  getTypeName(): string;
  timestamp: number;
  nextPosition: number;
  size: number;
  gtid?: string;
  binlogName?: string;
  position?: number;
  standalone?: boolean;
  query?: string;
  tableId?: number;
  schemaName?: string;
  tableName?: string;
  columnTypes?: number[];
  primaryKey?: number[];
  tableMap?: Record<number, ZongjiTableMap>;
  rows?: unknown[];
}
