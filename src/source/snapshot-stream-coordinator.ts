import { CdcError, errorMessage } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { MysqlConnectionOptions } from '../core/mysql-options.ts';
import { SourcePosition } from '../core/position.ts';
import { withRetry } from '../core/retry.ts';
import { heartbeatsTopic } from '../core/topics.ts';
import type { SourceConfig } from '../config/source.ts';
import { tableSelected } from '../transforms/selection.ts';
import type { Transform } from '../transforms/transform.ts';
import { binlogEnd } from './binlog-end.ts';
import { snapshotBatches } from './snapshot-batches.ts';
import { EncodedChunk, encodeBatch } from './snapshot-encoding.ts';
import { heartbeatSeconds } from './binlog-heartbeat.ts';
import { BinlogReader } from './binlog-reader.ts';
import type { CommittedPosition } from './committed-position.ts';
import { Dispatcher } from './dispatcher.ts';
import type { EncodedRecord } from './encoded-record.ts';
import type { EventEncoder } from './event-encoder.ts';
import { IncrementalSnapshot, type IncrementalProgress } from './incremental-snapshot.ts';
import type { TransactionalWriter } from './kafka-writer.ts';
import { withConnection } from './mysql-connection.ts';
import type { ServerFacts } from './preconditions.ts';
import { oldestBinlogFile } from './retention.ts';
import type { RetentionWatch } from './retention-watch.ts';
import { InitialSnapshot, type SnapshotProgress } from './snapshot.ts';
import { SnapshotReporter } from './snapshot-progress.ts';
import type { SourceMetrics } from './source-metrics.ts';
import type { StartPlan } from './start-plan.ts';
import { StreamQueue } from './stream-queue.ts';
import { capturedTables } from './table-reader.ts';
import type { SchemaRules } from './table-schema.ts';
import { TransactionMetadata } from './transaction-metadata.ts';

/** Small tables' snapshot chunks joined into one Kafka transaction: at most this many (and their topics in one createTopics). */
const SNAPSHOT_TABLES_PER_TRANSACTION = 100;
/** Schema registrations in flight at once while a snapshot batch's tables are prepared. */
const SCHEMA_REGISTRATIONS_AT_ONCE = 8;
/** Without heartbeats, a position that moved without captured changes is still stored this often. */
const IDLE_POSITION_COMMIT_MS = 10_000;

/** What one run of the pipeline works with: built by the service once the server and Kafka answered. */
export interface CoordinatorParts {
  config: SourceConfig;
  log: Logger;
  connection: MysqlConnectionOptions;
  serverId: number;
  facts: ServerFacts;
  writer: TransactionalWriter;
  encoder: EventEncoder;
  /** Column selection, masking and TRANSFORMS: every snapshot row and streamed change passes here before encoding. */
  transform: Transform;
  rules: SchemaRules;
  metrics: SourceMetrics;
  /** Changes committed per table since start, for /status. */
  tableCounts: Map<string, number>;
  committed: CommittedPosition;
  retention: RetentionWatch;
  /** stop(): ends the snapshot and the stream. */
  signal: AbortSignal;
  /** Tells the service which stage runs: when the snapshot starts, when streaming starts and after every streaming step. */
  enter(stage: 'snapshotting' | 'streaming'): void;
  /** Why an operator paused reading the binlog; undefined while reading. */
  pausedBy(): string | undefined;
  /** Logs a retried start-up step. */
  onRetry(error: unknown, attempt: number, delayMs: number): void;
  /** Work succeeded again: later failures start a new warning period (RetryLog). */
  recovered(): void;
}

const isSignalTable = (config: SourceConfig, database: string, table: string): boolean => config.SIGNAL_TABLE === `${database}.${table}`;

/** The tables whose changes the source captures: selected by the configuration, never the signal table. */
export function capturesOf(config: SourceConfig): (database: string, table: string) => boolean {
  return (database, table) => tableSelected(config, database, table) && !isSignalTable(config, database, table);
}

/** The stored offset the start plan was made from. */
export interface StoredStart {
  position: SourcePosition;
  incremental?: IncrementalProgress | undefined;
}

/**
 * Snapshot, then stream (Debezium's change-event-source coordinator): runs the start plan's
 * read-view snapshot (one Kafka transaction per chunk with its progress), decides where streaming
 * starts, wires incremental snapshots into the stream, then reads the binlog into the dispatcher
 * until stopped or failed. One instance per pipeline run; the service restarts a failed run with a
 * new one from the last committed position.
 */
export class SnapshotStreamCoordinator {
  readonly #parts: CoordinatorParts;
  /** Aborted at stop(): ends the incremental snapshot's driver with the pipeline. */
  readonly #pipelineStop = new AbortController();
  reader: BinlogReader | undefined;
  queue: StreamQueue | undefined;
  snapshot: InitialSnapshot | undefined;
  incremental: IncrementalSnapshot | undefined;

  constructor(parts: CoordinatorParts) {
    this.#parts = parts;
    this.#captured = capturesOf(parts.config);
  }

  /** Runs `plan` until stop() or a failure (which it throws). */
  async run(plan: Extract<StartPlan, { action: 'run' }>, stored: StoredStart | undefined): Promise<void> {
    const { config } = this.#parts;
    let from: SourcePosition | undefined;
    if (plan.snapshot) {
      from = await this.#takeSnapshot(plan.snapshot.resume, plan.epoch);
      if (!from) return;
    }
    if (plan.stopAfterSnapshot) {
      this.#parts.log.info('SNAPSHOT_MODE=initial_only: snapshot complete, stopping');
      return;
    }
    const incremental = config.SIGNAL_TABLE
      ? new IncrementalSnapshot(
          this.#parts.connection,
          {
            signalTable: config.SIGNAL_TABLE,
            chunkRows: config.INCREMENTAL_CHUNK_ROWS,
            chunkBytes: config.SNAPSHOT_CHUNK_BYTES,
            chunkRead: this.#parts.metrics.snapshotChunkRead,
            captures: this.#captured,
            rules: this.#parts.rules,
          },
          plan.resumeIncremental,
          this.#parts.log,
        )
      : undefined;
    this.incremental = incremental;
    if (plan.incrementalAll) incremental!.request(await withConnection(this.#parts.connection, (conn) => capturedTables(conn, this.#captured)), plan.incrementalAll);

    if (plan.streamFrom === 'stored') from = stored!.position.withEpoch(plan.epoch);
    if (plan.streamFrom === 'binlog-end') {
      // Stored before reading (with any requested snapshot): a crash before the first change still resumes here.
      from = (await this.#retrying(() => withConnection(this.#parts.connection, binlogEnd))).withEpoch(plan.epoch);
      await this.#parts.writer.commit([], from, { incremental: incremental?.progress });
      this.#parts.committed.position = from;
    }
    // `earliest` is the oldest binlog file still on the server, by file: GTID history from the
    // beginning is refused by a server that has purged binlogs.
    if (plan.streamFrom === 'oldest') from = new SourcePosition(await this.#retrying(() => withConnection(this.#parts.connection, oldestBinlogFile)), 4, 0, undefined, 0, plan.epoch);
    if (!from) throw new CdcError('INTERNAL', `start plan ${plan.streamFrom} gave no position`);
    if (config.RESUME_BY === 'file') from = from.withoutGtids();
    await this.#stream(from, plan.streamFrom, plan.epoch);
  }

  /** Stops reading and ends the incremental snapshot; what was not committed is read again by the next run. */
  async stop(): Promise<void> {
    this.#pipelineStop.abort();
    await this.reader?.stop();
    this.reader = undefined;
    this.queue = undefined;
  }

  #retrying<T>(step: () => Promise<T>): Promise<T> {
    return withRetry(step, { signal: this.#parts.signal, onRetry: this.#parts.onRetry });
  }

  #isSignal = (database: string, table: string): boolean => isSignalTable(this.#parts.config, database, table);

  readonly #captured: (database: string, table: string) => boolean;

  /**
   * Runs (or resumes) the initial snapshot, one Kafka transaction per chunk with its progress.
   * Returns the position streaming starts from, or undefined when stopped before the end.
   */
  async #takeSnapshot(resume: SnapshotProgress | undefined, epoch: number): Promise<SourcePosition | undefined> {
    const { config, encoder, metrics } = this.#parts;
    const snapshot = new InitialSnapshot(
      this.#parts.connection,
      {
        captures: this.#captured,
        chunk: { maxRows: config.SNAPSHOT_CHUNK_ROWS, maxBytes: config.SNAPSHOT_CHUNK_BYTES },
        chunkRead: metrics.snapshotChunkRead,
        serverId: this.#parts.serverId,
        rules: this.#parts.rules,
      },
      this.#parts.log,
    );
    this.snapshot = snapshot;
    this.#parts.enter('snapshotting');
    const report = new SnapshotReporter(snapshot, metrics, this.#parts.log);
    // One batch's Kafka transaction is in flight while the next batch is read and encoded (and
    // the one after it starts): at most three batches are held, and transactions commit in order.
    let inFlight: Promise<void> | undefined;
    try {
      const open = () => new EncodedChunk(this.#parts.transform, encoder);
      for await (const batch of snapshotBatches(snapshot.chunks(resume, this.#parts.signal, open), {
        rows: config.SNAPSHOT_CHUNK_ROWS,
        bytes: config.SNAPSHOT_CHUNK_BYTES,
        tables: SNAPSHOT_TABLES_PER_TRANSACTION,
      })) {
        const records = await encodeBatch(
          batch.map((chunk) => chunk.rows),
          encoder,
          this.#parts.writer,
          SCHEMA_REGISTRATIONS_AT_ONCE,
        );
        await inFlight;
        // A batch's last chunk's progress covers the chunks before it (progress only grows).
        const { progress } = batch.at(-1)!;
        // The snapshot's read view is a point of the binlog history this run reads.
        const streamFrom = SourcePosition.fromJSON(progress.streamFrom).withEpoch(epoch);
        const finished = progress.done.length === progress.tables.length;
        inFlight = this.#commitSnapshotBatch(records, streamFrom, finished ? undefined : progress).then(() => {
          for (const chunk of batch) report.chunkCommitted(chunk.table, chunk.count);
        });
        // Awaited before the next commit starts, at the end, or below; never left unobserved.
        inFlight.catch(() => undefined);
        if (finished) {
          await inFlight;
          report.finished();
          return streamFrom;
        }
      }
      await inFlight;
    } catch (error) {
      // The transaction in flight settles before the snapshot's connection is released; its failure, if any, is the one to report.
      await inFlight;
      throw error;
    }
    return undefined;
  }

  /** Commits one snapshot batch's records with the position and the progress they reach. */
  async #commitSnapshotBatch(records: EncodedRecord[], streamFrom: SourcePosition, progress: SnapshotProgress | undefined): Promise<void> {
    const { writer, metrics, committed } = this.#parts;
    const started = process.hrtime.bigint();
    // The batch's topics were ensured while its schemas were registered.
    await writer.commit(records, streamFrom, { snapshot: progress });
    committed.committed(streamFrom, committed.positionTime);
    this.#parts.recovered();
    metrics.transactionCommitted();
    metrics.commitSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
  }

  /** Reads the binlog from `from` into the dispatcher until stop() or a failure. */
  async #stream(from: SourcePosition, startPosition: string, epoch: number): Promise<void> {
    const { config, facts, signal } = this.#parts;
    this.#parts.log.info({ from: from.toJSON(), startPosition, epoch, server: facts.version, serverId: this.#parts.serverId }, 'starting binlog reader');
    // The reader also reads the signal table: requests and watermarks arrive in binlog order.
    const queue = new StreamQueue(
      config.QUEUE_MAX_BYTES,
      () => reader.pause(),
      () => reader.resume(),
    );
    const reader = new BinlogReader(this.#parts.connection, this.#parts.serverId, (db, table) => this.#isSignal(db, table) || this.#captured(db, table), this.#parts.rules, queue, {
      keysFromInformationSchema: facts.rowMetadata !== 'FULL',
      heartbeatSeconds: heartbeatSeconds(config.READY_STALL_SECONDS),
    });
    this.reader = reader;
    this.queue = queue;
    if (this.#parts.pausedBy() !== undefined) reader.pause('operator');
    const incremental = this.incremental;
    const dispatcher = new Dispatcher(
      {
        queue,
        readerPaused: () => reader.paused,
        encoder: this.#parts.encoder,
        writer: this.#parts.writer,
        transform: this.#parts.transform,
        incremental,
        metadata: config.TRANSACTION_METADATA ? new TransactionMetadata(config.TOPIC_PREFIX, (table) => table !== config.SIGNAL_TABLE) : undefined,
        metrics: this.#parts.metrics,
        tableCounts: this.#parts.tableCounts,
      },
      { maxEvents: config.TXN_MAX_EVENTS, maxBytes: config.TXN_MAX_BYTES, lingerMs: config.TXN_LINGER_MS, tombstones: config.TOMBSTONES_ON_DELETE },
    );
    let readerError: CdcError | undefined;
    let progress: SourcePosition | undefined;
    reader.on('progress', (position) => {
      progress = position;
    });
    reader.on('error', (error) => {
      readerError = error;
      queue.wake();
    });
    await reader.start(from);
    this.#parts.recovered();
    this.#parts.enter('streaming');
    incremental?.run(this.#pipelineStop.signal).catch((error: unknown) => {
      readerError = error as CdcError;
      queue.wake();
    });

    const idleCommitMs = config.HEARTBEAT_INTERVAL_MS || IDLE_POSITION_COMMIT_MS;
    // Wake often enough to notice a silent connection soon after the bound.
    const waitMs = Math.min(idleCommitMs, (config.READY_STALL_SECONDS * 1000) / 2);
    // Everything that should end a wait wakes the queue (an item, a reader error, a settled Kafka
    // transaction, stop): no Promise.race over a promise that stays pending for the whole run,
    // which would keep a reaction per round alive until the service stops.
    const wake = () => queue.wake();
    signal.addEventListener('abort', wake, { once: true });
    try {
      while (!signal.aborted) {
        await queue.wait(waitMs);
        if (readerError) throw readerError;
        this.#reconnectIfSilent(reader);
        if (signal.aborted) break;
        await this.#parts.retention.checkWhenDue();
        const committed = await dispatcher.step();
        for (const c of committed) this.#parts.committed.committed(c.position, c.tsMs);
        // Read synchronously with `idle`: every transaction before `progress` was committed.
        if (committed.length === 0 && dispatcher.idle && Date.now() - this.#parts.committed.lastCommitAt >= idleCommitMs) await this.#commitIdle(progress);
        this.#parts.enter('streaming');
      }
    } finally {
      signal.removeEventListener('abort', wake);
    }
  }

  /**
   * A connection that stayed silent (no event, not even a requested heartbeat) for twice
   * READY_STALL_SECONDS is given up: an open socket to a hung server or across a broken network
   * would never fail by itself. The retry loop reconnects from the last committed position, as
   * Debezium's keep-alive does; /readyz already said so after one bound.
   */
  #reconnectIfSilent(reader: BinlogReader): void {
    const stall = this.#parts.config.READY_STALL_SECONDS;
    const silent = reader.silentSeconds;
    if (silent <= 2 * stall) return;
    throw new CdcError('SOURCE_UNREACHABLE', `The binlog connection has been silent for ${silent} s (no event, not even a heartbeat; READY_STALL_SECONDS=${stall}): reconnecting`, {
      retriable: true,
      hint: 'The server or the network between us hangs; the source reconnects from its last committed position until the server answers again.',
    });
  }

  /**
   * Idle: the captured tables did not change. The position still moves (other tables, DDL), and a
   * heartbeat record says the source is alive, so an idle database never ages its stored position.
   */
  async #commitIdle(progress: SourcePosition | undefined): Promise<void> {
    const { config, writer, committed } = this.#parts;
    const position = progress && (!committed.position || progress.isAfter(committed.position)) ? progress : committed.position;
    if (!position) return;
    if (config.HEARTBEAT_QUERY) await this.#heartbeatQuery(config.HEARTBEAT_QUERY);
    const records: EncodedRecord[] = [];
    if (config.HEARTBEAT_INTERVAL_MS > 0) {
      const topic = heartbeatsTopic(config.TOPIC_PREFIX);
      await writer.ensureTopics([topic]);
      const value = Buffer.from(JSON.stringify({ sourceId: config.SOURCE_ID, position: position.toJSON(), ts: Date.now() }));
      records.push({ topic, key: Buffer.from(config.SOURCE_ID), value, bytes: value.length });
    } else if (position === committed.position) {
      return;
    }
    await writer.commit(records, position, { incremental: this.incremental?.progress });
    committed.committed(position, Date.now());
    if (records.length > 0) this.#parts.metrics.heartbeats.inc();
  }

  async #heartbeatQuery(statement: string): Promise<void> {
    await withConnection(this.#parts.connection, (conn) => conn.query(statement)).catch((error: unknown) => this.#parts.log.warn({ err: errorMessage(error) }, 'HEARTBEAT_QUERY failed'));
  }
}
