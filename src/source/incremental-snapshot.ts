import { randomUUID } from 'node:crypto';
import type mysql from 'mysql2/promise';
import type { ChangeEvent, Row, TableSchema } from '../core/change-event.ts';
import type { Logger } from '../core/logger.ts';
import { snapshotQueryError } from '../core/mysql-errors.ts';
import type { MysqlConnectionOptions } from '../core/mysql-options.ts';
import type { SchemaRules } from './table-schema.ts';
import { type ChunkBound, firstChunkLimit, nextChunkLimit } from './chunk-size.ts';
import { keyJson, keyParam, largestKey, openTableConnection, readChunk, splitQualified, tableSchema, tableStatistics } from './table-reader.ts';

/**
 * Incremental snapshot progress, stored with the position in every offsets record while it is
 * unfinished. It only changes while a streamed change is processed (a closing watermark), so the
 * record committed with a batch always describes exactly the rows that batch carried.
 */
export interface IncrementalProgress {
  /** Requested tables, `database.table`, in request order. */
  tables: string[];
  done: string[];
  /** The table being read: the key of its last emitted chunk, the key it stops at, rows so far. */
  current?: { table: string; lastKey: unknown[] | null; upTo: unknown[]; rows: number };
  startedAt: number;
}

/** The chunk between its two watermarks. */
interface Window {
  id: string;
  table: string;
  schema: TableSchema;
  after: unknown[] | undefined;
  upTo: unknown[];
  /** Filled before the closing watermark is written, so it is always there when that arrives. */
  rows: Row[] | undefined;
  /** The last row's key as the server returned it: where the next chunk starts. */
  lastKey: unknown[] | undefined;
  /** Rows may follow the chunk before `upTo` (readChunk's `more`). */
  more: boolean;
  /** Keys the binlog changed between the watermarks: those rows are newer in the binlog. */
  changed: Set<string>;
  open: boolean;
}

export interface IncrementalOptions {
  signalTable: string;
  chunkRows: number;
  /** A chunk's rows stop once their estimated bytes reach this (SNAPSHOT_CHUNK_BYTES). */
  chunkBytes: number;
  /** Each chunk's estimated bytes, as read. */
  chunkRead: (bytes: number) => void;
  captures: (database: string, table: string) => boolean;
  rules: SchemaRules;
}

/**
 * DBLog-style incremental snapshots (Netflix, 2019; Debezium's incremental snapshots): while the
 * binlog keeps streaming, each chunk of a table is read between a low and a high watermark row
 * written to the signal table. Rows the binlog changed between the two watermarks are dropped
 * from the chunk (the binlog's own events carry a state at least as new); the rest are emitted
 * right at the high watermark, with its position as their version: above every change they
 * already contain, below every change that follows. No lock, no long read view, and a crash
 * only repeats the chunk that was not committed.
 *
 * Requests arrive as `execute-snapshot` rows in the signal table (Debezium's format: data
 * `{"data-collections": ["db.table"], "type": "incremental"}`), so they are ordered with the
 * binlog and survive restarts; `stop-snapshot` cancels tables (or all).
 */
export class IncrementalSnapshot {
  readonly #connection: MysqlConnectionOptions;
  readonly #options: IncrementalOptions;
  readonly #bound: ChunkBound;
  readonly #log: Logger;
  readonly #signal: [string, string];
  #progress: IncrementalProgress | undefined;
  #window: Window | undefined;
  /** The LIMIT of the table being read's next chunk (chunk-size.ts). */
  #limit: { table: string; rows: number } | undefined;
  #wake: () => void = () => undefined;

  constructor(connection: MysqlConnectionOptions, options: IncrementalOptions, resume: IncrementalProgress | undefined, log: Logger) {
    this.#connection = connection;
    this.#options = options;
    this.#bound = { maxRows: options.chunkRows, maxBytes: options.chunkBytes };
    this.#log = log;
    this.#signal = splitQualified(options.signalTable);
    this.#progress = resume;
  }

  get progress(): IncrementalProgress | undefined {
    return this.#progress;
  }

  isSignalTable(database: string, table: string): boolean {
    return database === this.#signal[0] && table === this.#signal[1];
  }

  /** Queues tables (e.g. every captured table after the position was lost). */
  request(tables: string[], why: string): void {
    const accepted = tables.filter((qualified) => {
      const [database, table] = splitQualified(qualified);
      const ok = this.#options.captures(database, table) && !this.isSignalTable(database, table);
      if (!ok) this.#log.warn({ table: qualified }, 'incremental snapshot of a table that is not captured (TABLE_INCLUDE/EXCLUDE) ignored');
      return ok;
    });
    const p = this.#progress ?? { tables: [], done: [], startedAt: Date.now() };
    const pending = new Set(p.tables.filter((t) => !p.done.includes(t)));
    const added = accepted.filter((t) => !pending.has(t));
    if (added.length === 0) return;
    // A table snapshotted earlier in this run is read again: it leaves `done`.
    this.#progress = { ...p, tables: [...p.tables.filter((t) => !added.includes(t)), ...added], done: p.done.filter((t) => !added.includes(t)) };
    this.#log.info({ tables: added, why }, 'incremental snapshot requested');
    this.#wake();
  }

  /**
   * One streamed change, in binlog order, as it goes to Kafka (appended to `out`): a signal row is
   * acted on and dropped; a closing watermark appends its chunk's remaining rows. The window only
   * needs the binlog order of changes, not their transactions: a transaction committed between the
   * watermarks has all its changes between them, whichever Kafka transactions carry them.
   */
  process(event: ChangeEvent, out: ChangeEvent[]): void {
    if (this.isSignalTable(event.schema.database, event.schema.table)) {
      if (event.op === 'c' && event.after) this.#onSignal(event, out);
      return;
    }
    out.push(event);
    const w = this.#window;
    if (w?.open && event.schema.database === w.schema.database && event.schema.table === w.schema.table) {
      if (event.before) w.changed.add(keyString(event.schema, event.before));
      if (event.after) w.changed.add(keyString(event.schema, event.after));
    }
  }

  #onSignal(event: ChangeEvent, out: ChangeEvent[]): void {
    const { id, type, data } = event.after as { id?: unknown; type?: unknown; data?: unknown };
    const w = this.#window;
    switch (String(type)) {
      case 'execute-snapshot':
        return this.#onExecute(String(id), data);
      case 'stop-snapshot':
        return this.#onStop(data);
      case 'snapshot-window-open':
        if (w && id === `${w.id}-open`) w.open = true;
        return;
      case 'snapshot-window-close':
        if (w && id === `${w.id}-close`) this.#closeWindow(w, event, out);
        return;
      default:
        this.#log.warn({ id, type }, 'unknown signal type ignored');
    }
  }

  #onExecute(id: string, data: unknown): void {
    const request = parseData(data);
    const tables = request?.['data-collections'];
    const type = String(request?.type ?? 'incremental').toLowerCase();
    if (!Array.isArray(tables) || tables.length === 0 || type !== 'incremental' || tables.some((t) => typeof t !== 'string' || !/^[^.]+\.[^.]+$/.test(t))) {
      this.#log.warn({ id, data }, 'execute-snapshot signal ignored: data must be {"data-collections": ["db.table", ...], "type": "incremental"}');
      return;
    }
    this.request(tables as string[], `signal ${id}`);
  }

  #onStop(data: unknown): void {
    if (!this.#progress) return;
    const tables = parseData(data)?.['data-collections'];
    const stopped = Array.isArray(tables) ? new Set(tables.map(String)) : new Set(this.#progress.tables);
    const p = this.#progress;
    const tablesLeft = p.tables.filter((t) => !stopped.has(t) || p.done.includes(t));
    this.#progress = tablesLeft.length === p.done.length ? undefined : { ...p, tables: tablesLeft, current: p.current && stopped.has(p.current.table) ? undefined : p.current };
    if (this.#window && stopped.has(this.#window.table)) this.#window = undefined;
    this.#log.info({ tables: [...stopped] }, 'incremental snapshot stopped');
    this.#wake();
  }

  #closeWindow(w: Window, watermark: ChangeEvent, out: ChangeEvent[]): void {
    const rows = w.rows ?? [];
    let emitted = 0;
    for (const row of rows) {
      if (w.changed.has(keyString(w.schema, row))) continue;
      out.push({
        op: 'r',
        schema: w.schema,
        before: null,
        after: row,
        position: watermark.position,
        gtid: watermark.gtid,
        tsMs: watermark.tsMs,
        snapshot: 'incremental',
        serverId: watermark.serverId,
      });
      emitted += 1;
    }
    const p = this.#progress!;
    const previous = p.current?.table === w.table ? p.current.rows : 0;
    if (!w.more) {
      this.#progress = { ...p, done: [...p.done, w.table], current: undefined };
      this.#log.info({ table: w.table, rows: previous + rows.length }, 'incremental snapshot of table done');
    } else {
      this.#progress = { ...p, current: { table: w.table, lastKey: w.lastKey!.map(keyJson), upTo: w.upTo.map(keyJson), rows: previous + rows.length } };
    }
    if (this.#progress!.done.length === this.#progress!.tables.length) {
      this.#log.info({ tables: this.#progress!.tables }, 'incremental snapshot complete');
      this.#progress = undefined;
    }
    this.#log.debug({ table: w.table, read: rows.length, emitted, superseded: rows.length - emitted }, 'incremental snapshot chunk');
    this.#window = undefined;
    this.#wake();
  }

  /**
   * Opens one window after another while tables are pending; returns when `signal` aborts.
   * Throws SNAPSHOT_FAILED (or a retriable SOURCE_UNREACHABLE) when a query fails.
   */
  async run(signal: AbortSignal): Promise<void> {
    let conn: mysql.Connection | undefined;
    try {
      conn = await openTableConnection(this.#connection);
      if (this.#progress) this.#log.info({ tables: this.#progress.tables, done: this.#progress.done, current: this.#progress.current }, 'incremental snapshot resumed');
      while (!signal.aborted) {
        const table = this.#window ? undefined : this.#progress?.tables.find((t) => !this.#progress!.done.includes(t));
        if (table) await this.#openWindow(conn, table, signal);
        else await this.#woken(signal);
      }
    } catch (error) {
      throw snapshotQueryError(
        error,
        'Incremental snapshot',
        'MYSQL_USER needs SELECT on the captured tables and INSERT, DELETE on SIGNAL_TABLE (id VARCHAR(64) PRIMARY KEY, type VARCHAR(32) NOT NULL, data TEXT). The snapshot continues from its last committed chunk once fixed.',
      );
    } finally {
      await conn?.end().catch(() => undefined);
    }
  }

  /** Resolves at the next request, closed window or stop, or when `signal` aborts. */
  #woken(signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#wake = done;
      signal.addEventListener('abort', done, { once: true });
    });
  }

  async #openWindow(conn: mysql.Connection, qualified: string, signal: AbortSignal): Promise<void> {
    const [database, table] = splitQualified(qualified);
    const schema = await tableSchema(conn, database, table, this.#options.rules);
    const current = this.#progress?.current?.table === qualified ? this.#progress.current : undefined;
    const upTo = current ? current.upTo.map(keyParam) : schema.key.length > 0 ? await largestKey(conn, schema) : undefined;
    if (schema.columns.length === 0 || schema.key.length === 0 || !upTo) {
      // Nothing to read (gone, keyless, or empty): done without a window. Not committed by
      // itself, so a crash before the next commit only repeats this decision.
      if (schema.columns.length === 0) this.#log.warn({ table: qualified }, 'incremental snapshot: table does not exist');
      else if (schema.key.length === 0) this.#log.warn({ table: qualified }, 'incremental snapshot: table has no key (no primary key, unique NOT NULL index or KEY_COLUMNS): skipped');
      const p = this.#progress!;
      this.#progress = { ...p, done: [...p.done, qualified], current: undefined };
      if (this.#progress.done.length === this.#progress.tables.length) this.#progress = undefined;
      return;
    }
    const window: Window = {
      id: randomUUID(),
      table: qualified,
      schema,
      after: current?.lastKey?.map(keyParam),
      upTo,
      rows: undefined,
      lastKey: undefined,
      more: false,
      changed: new Set(),
      open: false,
    };
    this.#window = window;
    const signalTable = `${conn.escapeId(this.#signal[0])}.${conn.escapeId(this.#signal[1])}`;
    const insert = `INSERT INTO ${signalTable} (id, type, data) VALUES (?, ?, ?)`;
    const limit = await this.#chunkLimit(conn, qualified);
    await conn.query(insert, [`${window.id}-open`, 'snapshot-window-open', JSON.stringify({ table: qualified })]);
    const chunk = await readChunk(conn, schema, { after: window.after, upTo, limit, maxBytes: this.#options.chunkBytes });
    ({ rows: window.rows, lastKey: window.lastKey, more: window.more } = chunk);
    this.#limit = { table: qualified, rows: nextChunkLimit(this.#bound, limit, { rows: chunk.rows.length, bytes: chunk.bytes }) };
    this.#options.chunkRead(chunk.bytes);
    if (chunk.dropped > 0) this.#log.debug({ table: qualified, rows: chunk.rows.length, bytes: chunk.bytes, dropped: chunk.dropped }, 'incremental snapshot chunk cut at SNAPSHOT_CHUNK_BYTES');
    await conn.query(insert, [`${window.id}-close`, 'snapshot-window-close', JSON.stringify({ table: qualified, rows: window.rows.length })]);
    // The watermarks did their work once they are in the binlog; keep the table small.
    await conn.query(`DELETE FROM ${signalTable} WHERE id IN (?, ?)`, [`${window.id}-open`, `${window.id}-close`]);
    while (this.#window === window && !signal.aborted) await this.#woken(signal);
  }

  /** The LIMIT of a table's next chunk: learnt from its previous chunks, or a first guess from its statistics. */
  async #chunkLimit(conn: mysql.Connection, qualified: string): Promise<number> {
    if (this.#limit?.table === qualified) return this.#limit.rows;
    const [database, table] = splitQualified(qualified);
    return firstChunkLimit(this.#bound, (await tableStatistics(conn, database, table)).averageRowBytes);
  }
}

/** One string per key value tuple, equal for the binlog's and the SELECT's canonical values. */
function keyString(schema: TableSchema, row: Row): string {
  return JSON.stringify(schema.key.map((k) => keyJson(row[k] ?? null)));
}

function parseData(data: unknown): Record<string, unknown> | undefined {
  if (typeof data !== 'string') return undefined;
  try {
    const parsed = JSON.parse(data) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
