import { heartbeatsTopic, offsetsTopic, topicFor } from '../core/topics.ts';
import type { ChangeEvent } from '../core/change-event.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { CdcError, errorMessage, toCdcError } from '../core/errors.ts';
import { createKafka, kafkaSettings } from '../core/kafka.ts';
import { errorFields, type Logger } from '../core/logger.ts';
import { SourcePosition } from '../core/position.ts';
import { backoffDelay, DEFAULT_RETRY, RetryLog, withRetry } from '../core/retry.ts';
import { optionalRegistry, type Registry } from '../core/schema-registry.ts';
import { redactConfig } from '../config/env.ts';
import { probeServerId, replicaServerId, sourceSpec, type SourceConfig } from '../config/source.ts';
import { binlogStartTime } from './binlog-start-time.ts';
import { readiness, secondsSince, type Probe, type Readiness } from '../core/probe.ts';
import { BinlogReader } from './binlog-reader.ts';
import type { MysqlConnectionOptions } from '../core/mysql-options.ts';
import { binlogEnd } from './binlog-end.ts';
import { heartbeatSeconds } from './binlog-heartbeat.ts';
import mysql from 'mysql2/promise';
import { mysqlConnection } from './mysql-connection.ts';
import { EventEncoder, type EncodedRecord } from './event-encoder.ts';
import { TransactionalWriter } from './kafka-writer.ts';
import { ensureOffsetsTopic, readStoredOffset } from './offset-store.ts';
import { openStored, ProgressSeal } from './progress-seal.ts';
import { checkSource, type ServerFacts } from './preconditions.ts';
import { checkRetention, oldestBinlogFile, PurgeRiskAlarm, purgeRisk, type RetentionReport } from './retention.ts';
import { IncrementalSnapshot } from './incremental-snapshot.ts';
import { planStart } from './start-plan.ts';
import { capturedTables, splitQualified } from './table-reader.ts';
import { loadSchemaRules, schemaRules, type SchemaRules } from './table-schema.ts';
import { InitialSnapshot, type SnapshotProgress } from './snapshot.ts';
import { snapshotBatches } from './snapshot-batches.ts';
import { checkSignalTable } from './signal-table.ts';
import { SnapshotReporter, snapshotStatus } from './snapshot-progress.ts';
import { createSourceMetrics, type SourceMetrics } from './source-metrics.ts';
import { TransactionMetadata } from './transaction-metadata.ts';
import { StreamQueue } from './stream-queue.ts';
import { Dispatcher, type Committed } from './dispatcher.ts';
import { OperatorPause } from './operator-pause.ts';
import { sourceTransform } from './source-transform.ts';
import { tableSelected } from '../transforms/selection.ts';
import type { Transform } from '../transforms/transform.ts';
import { VERSION } from '../version.ts';

/** Without heartbeats, a position that moved without captured changes is still stored this often. */
const IDLE_POSITION_COMMIT_MS = 10_000;
/** Small tables' snapshot chunks joined into one Kafka transaction: at most this many (and their topics in one createTopics). */
const SNAPSHOT_TABLES_PER_TRANSACTION = 100;
/** Schema registrations in flight at once while a snapshot batch's tables are prepared. */
const SCHEMA_REGISTRATIONS_AT_ONCE = 8;

/**
 * The source: binlog → ChangeEvents → Avro → one Kafka transaction per group of binlog
 * transactions, together with the new position. Retriable failures restart the pipeline from the
 * last committed position (nothing uncommitted is kept); fatal ones stop it with a coded error.
 */
export class SourceService implements Probe {
  readonly metrics: SourceMetrics = createSourceMetrics(() => (this.#reader ? (Date.now() - this.#reader.lastEventAt) / 1000 : null));
  readonly #config: SourceConfig;
  readonly #log: Logger;
  /** Retried failures are warnings until they last READY_STALL_SECONDS, then errors. */
  readonly #retryLog: RetryLog;
  readonly #kafka: Kafka;
  readonly #registry: Registry | undefined;
  readonly #serverId: number;
  readonly #stop = new AbortController();
  #writer: TransactionalWriter | undefined;
  #reader: BinlogReader | undefined;
  #facts: ServerFacts | undefined;
  #committed: SourcePosition | undefined;
  #lastCommitAt = 0;
  #retention: RetentionReport | undefined;
  #retentionCheckedAt = 0;
  /** Kept across pipeline restarts: a restart must not repeat a warning already given. */
  readonly #purgeAlarm = new PurgeRiskAlarm();
  /** Commit time of the last change the stored position covers (now, when idle commits moved it). */
  #positionTime = 0;
  readonly #binlogStarts = new Map<string, number>();
  #lastError: CdcError | undefined;
  #state: 'starting' | 'snapshotting' | 'streaming' | 'retrying' | 'paused' | 'stopped' | 'failed' = 'starting';
  readonly #pause = new OperatorPause();
  #pausedAt = 0;
  #snapshot: InitialSnapshot | undefined;
  #incremental: IncrementalSnapshot | undefined;
  /** Aborted at teardown: ends the incremental snapshot's driver with the pipeline. */
  #pipelineStop = new AbortController();
  /** Changes committed per table since start, for /status. */
  readonly #tableCounts = new Map<string, number>();
  #queue: StreamQueue | undefined;
  /** Since when the current state (streaming, snapshotting) has run: the stall clock's origin. */
  #stateSince = Date.now();
  /** Why an operator (or the service itself) paused reading the binlog; undefined while reading. */
  #pausedBy: string | undefined;
  /** Column selection, masking and TRANSFORMS: every snapshot row and streamed change passes here before encoding. */
  readonly #transform: Transform;

  constructor(config: SourceConfig, log: Logger) {
    this.#config = config;
    this.#log = log;
    this.#retryLog = new RetryLog(config.READY_STALL_SECONDS * 1000);
    this.#transform = sourceTransform(config);
    this.#serverId = replicaServerId(config);
    this.#kafka = createKafka(kafkaSettings(config), log);
    this.#registry = optionalRegistry(config);
  }

  get offsetsTopic(): string {
    return offsetsTopic(this.#config.TOPIC_PREFIX);
  }

  /** Runs until stop() or a fatal error (which it throws). */
  async run(): Promise<void> {
    const signal = this.#stop.signal;
    for (let attempt = 0; !signal.aborted; attempt++) {
      try {
        await this.#runPipeline();
        return;
      } catch (error) {
        const cdc = error instanceof CdcError ? error : new CdcError('INTERNAL', errorMessage(error), { cause: error });
        this.#lastError = cdc;
        if (signal.aborted) return;
        if (!cdc.retriable && OperatorPause.appliesTo(cdc)) {
          await this.#teardown();
          this.#state = 'paused';
          this.#pausedAt = Date.now();
          this.metrics.restarts.inc({ code: cdc.code });
          this.#log.error(
            { ...errorFields(cdc), retryInMs: this.#config.SCHEMA_RETRY_INTERVAL_MS, position: this.#committed?.toJSON() },
            'source paused at its last committed position until an operator resolves the error',
          );
          await this.#pause.hold(this.#config.SCHEMA_RETRY_INTERVAL_MS, signal);
          continue;
        }
        if (!cdc.retriable) {
          this.#state = 'failed';
          throw cdc;
        }
        this.#state = 'retrying';
        this.metrics.restarts.inc({ code: cdc.code });
        const delay = backoffDelay(DEFAULT_RETRY, Math.min(attempt, 8));
        this.#retryLog.failed(this.#log, cdc, { retryInMs: delay }, 'source pipeline failed; restarting from the last committed position');
        await sleep(delay, undefined, { signal }).catch(() => undefined);
      } finally {
        await this.#teardown();
      }
    }
  }

  async stop(): Promise<void> {
    this.#stop.abort();
  }

  /** Paused (SCHEMA_INCOMPATIBLE): try again now instead of at the next interval. False when not paused. */
  retryNow(): boolean {
    return this.#pause.retryNow();
  }

  async #runPipeline(): Promise<void> {
    const config = this.#config;
    const connection = mysqlConnection(config);
    const signal = this.#stop.signal;
    const onRetry = (error: unknown, attempt: number, delayMs: number) => this.#retryLog.failed(this.#log, error, { attempt, retryInMs: delayMs }, 'retrying start-up step');

    this.#facts = await withRetry(() => checkSource(connection, this.#serverId), { signal, onRetry });
    if (this.#facts.rowMetadata !== 'FULL') {
      this.#log.warn(
        { binlog_row_metadata: this.#facts.rowMetadata },
        'binlog_row_metadata is not FULL: column names, types and primary keys come from information_schema, which describes tables as they are now, not when older rows were written (a DDL between the two misreads them); set binlog_row_metadata=FULL',
      );
    }
    this.#writer = new TransactionalWriter(this.#kafka, {
      exactlyOnce: config.EXACTLY_ONCE,
      sourceId: config.SOURCE_ID,
      offsetsTopic: this.offsetsTopic,
      partitions: config.TOPIC_PARTITIONS,
      replicationFactor: config.TOPIC_REPLICATION_FACTOR,
      compression: config.KAFKA_COMPRESSION,
      seal: ProgressSeal.forHashing(config),
    });
    await ensureOffsetsTopic(this.#kafka, this.offsetsTopic, config.TOPIC_REPLICATION_FACTOR);
    await this.#writer.connect();
    const encoder = new EventEncoder(this.#registry, {
      prefix: config.TOPIC_PREFIX,
      sourceId: config.SOURCE_ID,
      connector: this.#facts.connector,
      compatibility: config.SCHEMA_COMPATIBILITY,
      converter: config.VALUE_CONVERTER,
      version: VERSION,
    });
    const rules = schemaRules(config);
    await withRetry(() => this.#withConnection((conn) => loadSchemaRules(rules, conn)), { signal, onRetry });
    if (config.SIGNAL_TABLE) await withRetry(() => this.#withConnection((conn) => checkSignalTable(conn, config.SIGNAL_TABLE!)), { signal, onRetry });
    const stored = openStored(await readStoredOffset(this.#kafka, this.offsetsTopic, config.SOURCE_ID), ProgressSeal.forHashing(config));
    this.#committed = stored?.position;
    this.#positionTime = stored?.ts ?? 0;
    const retentionError = stored
      ? await this.#checkRetention(connection, stored.position).then(
          () => undefined,
          (error: unknown) => toCdcError(error, 'SOURCE_UNREACHABLE', 'Checking the stored position against the server failed'),
        )
      : undefined;
    const plan = planStart({ stored, retentionError, connector: this.#facts.connector, serverVersion: this.#facts.version, config });
    if (plan.action === 'fail') throw plan.error;
    if (plan.positionLost) {
      this.#log.warn({ ...errorFields(retentionError), snapshotMode: config.SNAPSHOT_MODE, onPositionLost: config.ON_POSITION_LOST }, plan.positionLost);
      this.#committed = undefined;
    }
    const isSignal = (db: string, t: string) => config.SIGNAL_TABLE === `${db}.${t}`;
    const captured = (db: string, t: string) => this.#captures(db, t) && !isSignal(db, t);
    // Two captured tables on one topic are refused before anything is written; with a route
    // transform the topics are known only per change, and the encoder checks them there.
    if (!config.TRANSFORMS.some((t) => t.type === 'route')) {
      const tables = await withRetry(() => this.#withConnection((conn) => capturedTables(conn, captured)), { signal, onRetry });
      for (const [db, t] of tables.map(splitQualified)) encoder.topicClaims.claim(topicFor(config.TOPIC_PREFIX, db, t), config.TOPIC_PREFIX, db, t);
    }
    let from: SourcePosition | undefined;
    if (plan.snapshot) {
      from = await this.#takeSnapshot(connection, encoder, plan.snapshot.resume, captured, rules);
      if (!from) return;
    }
    if (plan.stopAfterSnapshot) {
      this.#log.info('SNAPSHOT_MODE=initial_only: snapshot complete, stopping');
      return;
    }
    const incremental = config.SIGNAL_TABLE
      ? new IncrementalSnapshot(connection, { signalTable: config.SIGNAL_TABLE, chunkRows: config.INCREMENTAL_CHUNK_ROWS, captures: captured, rules }, plan.resumeIncremental, this.#log)
      : undefined;
    this.#incremental = incremental;
    if (plan.incrementalAll) incremental!.request(await this.#withConnection((conn) => capturedTables(conn, captured)), plan.incrementalAll);

    if (plan.streamFrom === 'stored') from = stored!.position;
    if (plan.streamFrom === 'binlog-end') {
      // Stored before reading (with any requested snapshot): a crash before the first change still resumes here.
      from = await withRetry(() => this.#withConnection(binlogEnd), { signal, onRetry });
      await this.#writer.commit([], from, { incremental: incremental?.progress });
      this.#committed = from;
    }
    // `earliest` is the oldest binlog file still on the server, by file: GTID history from the
    // beginning is refused by a server that has purged binlogs.
    if (plan.streamFrom === 'oldest') from = new SourcePosition(await withRetry(() => this.#withConnection(oldestBinlogFile), { signal, onRetry }), 4);
    if (!from) throw new CdcError('INTERNAL', `start plan ${plan.streamFrom} gave no position`);
    if (config.RESUME_BY === 'file') from = from.withoutGtids();
    this.#log.info({ from: from.toJSON(), startPosition: plan.streamFrom, server: this.#facts.version, serverId: this.#serverId }, 'starting binlog reader');
    // The reader also reads the signal table: requests and watermarks arrive in binlog order.
    const queue = new StreamQueue(
      config.QUEUE_MAX_BYTES,
      () => reader.pause(),
      () => reader.resume(),
    );
    const reader = new BinlogReader(connection, this.#serverId, (db, table) => isSignal(db, table) || captured(db, table), rules, queue, {
      keysFromInformationSchema: this.#facts.rowMetadata !== 'FULL',
      heartbeatSeconds: heartbeatSeconds(config.READY_STALL_SECONDS),
    });
    this.#reader = reader;
    this.#queue = queue;
    if (this.#pausedBy) reader.pause('operator');
    const dispatcher = new Dispatcher(
      {
        queue,
        readerPaused: () => reader.paused,
        encoder,
        writer: this.#writer,
        transform: this.#transform,
        incremental,
        metadata: config.TRANSACTION_METADATA ? new TransactionMetadata(config.TOPIC_PREFIX, (table) => table !== config.SIGNAL_TABLE) : undefined,
        metrics: this.metrics,
        tableCounts: this.#tableCounts,
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
    this.#retryLog.succeeded();
    // After a pause the source counts as streaming (ready) only once it committed again.
    if (this.#state !== 'paused') {
      this.#state = 'streaming';
      this.#stateSince = Date.now();
    }
    this.#pipelineStop = new AbortController();
    incremental?.run(this.#pipelineStop.signal).catch((error: unknown) => {
      readerError = error as CdcError;
      queue.wake();
    });

    const idleCommitMs = config.HEARTBEAT_INTERVAL_MS || IDLE_POSITION_COMMIT_MS;
    // Wake often enough to notice a silent connection soon after the bound.
    const waitMs = Math.min(idleCommitMs, (config.READY_STALL_SECONDS * 1000) / 2);
    const aborted = new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    while (!signal.aborted) {
      await Promise.race([queue.wait(waitMs), dispatcher.settled(), aborted]);
      if (readerError) throw readerError;
      this.#reconnectIfSilent(reader);
      if (signal.aborted) break;
      if (this.#committed && Date.now() - this.#retentionCheckedAt > config.RETENTION_CHECK_INTERVAL_MS) {
        this.#retentionCheckedAt = Date.now();
        await this.#checkRetention(connection, this.#committed);
      }
      const committed = await dispatcher.step();
      for (const c of committed) this.#onCommitted(c);
      // Read synchronously with `idle`: every transaction before `progress` was committed.
      if (committed.length === 0 && dispatcher.idle && Date.now() - this.#lastCommitAt >= idleCommitMs) await this.#commitIdle(progress);
      if (this.#state === 'paused' && this.#lastCommitAt > this.#pausedAt) this.#state = 'streaming';
    }
  }

  #onCommitted(committed: Committed): void {
    this.#committed = committed.position;
    this.#lastCommitAt = Date.now();
    this.#positionTime = committed.tsMs;
  }

  /**
   * A connection that stayed silent (no event, not even a requested heartbeat) for twice
   * READY_STALL_SECONDS is given up: an open socket to a hung server or across a broken network
   * would never fail by itself. The retry loop reconnects from the last committed position, as
   * Debezium's keep-alive does; /readyz already said so after one bound.
   */
  #reconnectIfSilent(reader: BinlogReader): void {
    const stall = this.#config.READY_STALL_SECONDS;
    const silent = reader.silentSeconds;
    if (silent <= 2 * stall) return;
    throw new CdcError('SOURCE_UNREACHABLE', `The binlog connection has been silent for ${silent} s (no event, not even a heartbeat; READY_STALL_SECONDS=${stall}): reconnecting`, {
      retriable: true,
      hint: 'The server or the network between us hangs; the source reconnects from its last committed position until the server answers again.',
    });
  }

  /**
   * Runs (or resumes) the initial snapshot, one Kafka transaction per chunk with its progress.
   * Returns the position streaming starts from, or undefined when stopped before the end.
   */
  async #takeSnapshot(
    connection: MysqlConnectionOptions,
    encoder: EventEncoder,
    resume: SnapshotProgress | undefined,
    captures: (database: string, table: string) => boolean,
    rules: SchemaRules,
  ): Promise<SourcePosition | undefined> {
    const config = this.#config;
    const snapshot = new InitialSnapshot(connection, { captures, chunkRows: config.SNAPSHOT_CHUNK_ROWS, serverId: this.#serverId, rules }, this.#log);
    this.#snapshot = snapshot;
    this.#state = 'snapshotting';
    this.#stateSince = Date.now();
    const report = new SnapshotReporter(snapshot, this.metrics, this.#log);
    for await (const batch of snapshotBatches(snapshot.chunks(resume, this.#stop.signal), config.SNAPSHOT_CHUNK_ROWS, SNAPSHOT_TABLES_PER_TRANSACTION)) {
      const started = process.hrtime.bigint();
      const records: EncodedRecord[] = [];
      const push = (record: EncodedRecord) => records.push(record);
      const shaped: ChangeEvent[] = [];
      for (const chunk of batch) {
        for (const event of chunk.events) {
          const change = this.#transform(event);
          if (change) shaped.push(change);
        }
      }
      // Many small tables: their schemas registered side by side, their topics created in one request.
      await encoder.prepareAll(shaped, SCHEMA_REGISTRATIONS_AT_ONCE);
      for (const change of shaped) encoder.encodeChange(change, false, push);
      await this.#writer!.ensureTopics(new Set(records.map((r) => r.topic)));
      const { progress } = batch.at(-1)!;
      const streamFrom = SourcePosition.fromJSON(progress.streamFrom);
      const finished = progress.done.length === progress.tables.length;
      await this.#writer!.commit(records, streamFrom, { snapshot: finished ? undefined : progress });
      this.#committed = streamFrom;
      this.#lastCommitAt = Date.now();
      this.#retryLog.succeeded();
      this.metrics.transactions.inc();
      this.metrics.commitSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      for (const chunk of batch) report.chunkCommitted(chunk.events);
      if (finished) {
        report.finished();
        return streamFrom;
      }
    }
    return undefined;
  }

  /**
   * Idle: the captured tables did not change. The position still moves (other tables, DDL), and a
   * heartbeat record says the source is alive, so an idle database never ages its stored position.
   */
  async #commitIdle(progress: SourcePosition | undefined): Promise<void> {
    const config = this.#config;
    const position = progress && (!this.#committed || progress.isAfter(this.#committed)) ? progress : this.#committed;
    if (!position) return;
    if (config.HEARTBEAT_QUERY) await this.#heartbeatQuery(config.HEARTBEAT_QUERY);
    const records: EncodedRecord[] = [];
    if (config.HEARTBEAT_INTERVAL_MS > 0) {
      const topic = heartbeatsTopic(config.TOPIC_PREFIX);
      await this.#writer!.ensureTopics([topic]);
      const value = Buffer.from(JSON.stringify({ sourceId: config.SOURCE_ID, position: position.toJSON(), ts: Date.now() }));
      records.push({ topic, key: Buffer.from(config.SOURCE_ID), value, bytes: value.length });
    } else if (position === this.#committed) {
      return;
    }
    await this.#writer!.commit(records, position, { incremental: this.#incremental?.progress });
    this.#committed = position;
    this.#lastCommitAt = Date.now();
    this.#positionTime = this.#lastCommitAt;
    if (records.length > 0) this.metrics.heartbeats.inc();
  }

  async #heartbeatQuery(statement: string): Promise<void> {
    await this.#withConnection((conn) => conn.query(statement)).catch((error: unknown) => this.#log.warn({ err: errorMessage(error) }, 'HEARTBEAT_QUERY failed'));
  }

  /** Runs `work` on a short-lived connection to the source server. */
  async #withConnection<T>(work: (conn: mysql.Connection) => Promise<T>): Promise<T> {
    const config = this.#config;
    const conn = await mysql.createConnection({ ...mysqlConnection(config), connectTimeout: 10_000 }).catch((error: unknown) => {
      throw new CdcError('SOURCE_UNREACHABLE', `Cannot connect to ${config.MYSQL_HOST}:${config.MYSQL_PORT}: ${errorMessage(error)}`, { cause: error, retriable: true });
    });
    try {
      return await work(conn);
    } finally {
      await conn.end().catch(() => undefined);
    }
  }

  /** A file's start time never changes: read once per file. */
  async #binlogStartTime(connection: MysqlConnectionOptions, file: string): Promise<number> {
    let ms = this.#binlogStarts.get(file);
    if (ms === undefined) {
      ms = await binlogStartTime(connection, file, probeServerId(this.#config));
      this.#binlogStarts.set(file, ms);
    }
    return ms;
  }

  /** Fails with SOURCE_POSITION_PURGED when the position is gone; exports the headroom. */
  async #checkRetention(connection: MysqlConnectionOptions, position: SourcePosition): Promise<void> {
    await this.#withConnection(async (conn) => {
      const report = await checkRetention(conn, position, { positionTimeMs: this.#positionTime || Date.now(), startTimeOf: (file) => this.#binlogStartTime(connection, file) });
      this.#retention = report;
      this.metrics.headroomBytes.set(report.headroomBytes);
      this.metrics.headroomSeconds.set(report.headroomSeconds);
      this.metrics.retentionSeconds.set(report.retentionSeconds);
      const risk = purgeRisk({ ...report, positionTimeMs: this.#positionTime || Date.now() }, Date.now(), { seconds: this.#config.RETENTION_WARN_SECONDS, bytes: this.#config.RETENTION_WARN_BYTES });
      const change = this.#purgeAlarm.update(risk);
      if (change === 'raised')
        this.#log.warn({ ...report, position: position.toJSON(), risk }, 'automatic binlog expiry can purge the stored position soon: raise binlog retention, or the source may lose its position');
      if (change === 'cleared') this.#log.info({ ...report, position: position.toJSON() }, 'the stored position is no longer close to automatic binlog expiry');
    });
  }

  #captures(database: string, table: string): boolean {
    return tableSelected(this.#config, database, table);
  }

  async #teardown(): Promise<void> {
    this.#pipelineStop.abort();
    await this.#reader?.stop();
    this.#reader = undefined;
    this.#queue = undefined;
    await this.#writer?.close();
    this.#writer = undefined;
    if (this.#stop.signal.aborted) this.#state = 'stopped';
  }

  /**
   * Stops reading the binlog until resume(): what is queued is still committed, the stored
   * position stays where it is, and readiness says why. For operators (admin API) and for the
   * service itself when it must wait for one. Returns false when it was already paused.
   */
  pause(reason: string): boolean {
    if (this.#pausedBy) return false;
    this.#pausedBy = reason;
    this.#reader?.pause('operator');
    this.metrics.paused.set(1);
    this.#log.warn({ reason }, 'source paused: not reading the binlog until resumed');
    return true;
  }

  /** Resumes reading after pause(); false when it was not paused. */
  resume(): boolean {
    if (!this.#pausedBy) return false;
    this.#pausedBy = undefined;
    this.#reader?.resume('operator');
    this.metrics.paused.set(0);
    this.#log.info('source resumed');
    return true;
  }

  healthy(): boolean {
    return this.#state !== 'failed';
  }

  ready(): Readiness {
    const stall = this.#config.READY_STALL_SECONDS;
    const running = this.#state === 'streaming' || this.#state === 'snapshotting';
    const reader = this.#reader;
    const silent = this.#state === 'streaming' && reader ? reader.silentSeconds : 0;
    const progressIdle = secondsSince(Math.max(this.#lastCommitAt, this.#stateSince))!;
    const queued = this.#queue?.length ?? 0;
    return readiness(
      this.#state,
      [
        !running && (this.#lastError ? this.#lastError.describe() : `the source is ${this.#state}`),
        this.#pausedBy !== undefined && `paused: ${this.#pausedBy}`,
        silent > stall &&
          `the binlog connection has been silent for ${silent} s: no event, not even a server heartbeat (requested every ${heartbeatSeconds(stall)} s), so the server or the network between us hangs (READY_STALL_SECONDS=${stall})`,
        this.#state === 'streaming' && queued > 0 && progressIdle > stall && `${queued} change(s) wait, but nothing was committed to Kafka for ${progressIdle} s (READY_STALL_SECONDS=${stall})`,
        this.#state === 'snapshotting' && progressIdle > stall && `no snapshot chunk was committed for ${progressIdle} s (READY_STALL_SECONDS=${stall})`,
      ],
      {
        paused: this.#pausedBy ?? false,
        secondsSinceBinlogEvent: reader ? secondsSince(reader.lastEventAt) : null,
        secondsSinceCommit: secondsSince(this.#lastCommitAt || undefined),
        queuedChanges: queued,
        lastError: this.#lastError?.code ?? null,
      },
    );
  }

  status(): unknown {
    return {
      service: 'source',
      version: VERSION,
      state: this.#state,
      paused: this.#pausedBy ?? false,
      sourceId: this.#config.SOURCE_ID,
      server: this.#facts,
      position: this.#committed?.toJSON(),
      binlogRetention: this.#retention ?? null,
      snapshot: this.#snapshot ? snapshotStatus(this.#snapshot) : null,
      incrementalSnapshot: this.#incremental?.progress ?? null,
      lastCommitAt: this.#lastCommitAt ? new Date(this.#lastCommitAt).toISOString() : null,
      tables: Object.fromEntries(this.#tableCounts),
      lastError: this.#lastError ? { code: this.#lastError.code, message: this.#lastError.message, hint: this.#lastError.hint, details: this.#lastError.details } : null,
      config: redactConfig(sourceSpec, this.#config),
    };
  }
}
