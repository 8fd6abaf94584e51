import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { CdcError, errorMessage } from '../core/errors.ts';
import { createKafka } from '../core/kafka.ts';
import { errorFields, type Logger } from '../core/logger.ts';
import { SourcePosition } from '../core/position.ts';
import { backoffDelay, DEFAULT_RETRY, withRetry } from '../core/retry.ts';
import { Registry } from '../core/schema-registry.ts';
import { redactConfig } from '../config/env.ts';
import { probeServerId, replicaServerId, sourceSpec, type SourceConfig } from '../config/source.ts';
import { binlogStartTime } from './binlog-start-time.ts';
import type { Probe } from '../http/server.ts';
import { BinlogReader, type MysqlConnectionOptions, type StartFrom, type SourceTransaction } from './binlog-reader.ts';
import mysql from 'mysql2/promise';
import { EventEncoder, type EncodedRecord } from './event-encoder.ts';
import { TransactionalWriter } from './kafka-writer.ts';
import { ensureOffsetsTopic, readStoredOffset } from './offset-store.ts';
import { checkSource, type ServerFacts } from './preconditions.ts';
import { checkRetention, oldestBinlogFile, type RetentionReport } from './retention.ts';
import { InitialSnapshot, type SnapshotProgress } from './snapshot.ts';
import { SnapshotReporter, snapshotStatus } from './snapshot-progress.ts';
import { createSourceMetrics, type SourceMetrics } from './source-metrics.ts';
import { transactionMarkers } from './transaction-metadata.ts';
import { TransactionQueue } from './transaction-queue.ts';
import { sourceTransform } from './source-transform.ts';
import { tableSelected } from '../transforms/selection.ts';
import type { Transform } from '../transforms/transform.ts';
import { VERSION } from '../version.ts';

/** Without heartbeats, a position that moved without captured changes is still stored this often. */
const IDLE_POSITION_COMMIT_MS = 10_000;
/** How often the stored position is compared with the oldest binlog on the server. */
const RETENTION_CHECK_MS = 60_000;

/**
 * The source: binlog → ChangeEvents → Avro → one Kafka transaction per group of binlog
 * transactions, together with the new position. Retriable failures restart the pipeline from the
 * last committed position (nothing uncommitted is kept); fatal ones stop it with a coded error.
 */
export class SourceService implements Probe {
  readonly metrics: SourceMetrics = createSourceMetrics();
  readonly #config: SourceConfig;
  readonly #log: Logger;
  readonly #kafka: Kafka;
  readonly #registry: Registry;
  readonly #serverId: number;
  readonly #stop = new AbortController();
  #writer: TransactionalWriter | undefined;
  #reader: BinlogReader | undefined;
  #facts: ServerFacts | undefined;
  #committed: SourcePosition | undefined;
  #lastCommitAt = 0;
  #retention: RetentionReport | undefined;
  #retentionCheckedAt = 0;
  /** Commit time of the last change the stored position covers (now, when idle commits moved it). */
  #positionTime = 0;
  readonly #binlogStarts = new Map<string, number>();
  #lastError: CdcError | undefined;
  #state: 'starting' | 'snapshotting' | 'streaming' | 'retrying' | 'stopped' | 'failed' = 'starting';
  #snapshot: InitialSnapshot | undefined;
  readonly #counts = new Map<string, number>();
  /** Column selection, masking and TRANSFORMS: every snapshot row and streamed change passes here before encoding. */
  readonly #transform: Transform;

  constructor(config: SourceConfig, log: Logger) {
    this.#config = config;
    this.#log = log;
    this.#transform = sourceTransform(config);
    this.#serverId = replicaServerId(config);
    this.#kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID }, log);
    this.#registry = new Registry({ url: config.SCHEMA_REGISTRY_URL, username: config.SCHEMA_REGISTRY_USERNAME, password: config.SCHEMA_REGISTRY_PASSWORD });
  }

  get offsetsTopic(): string {
    return `${this.#config.TOPIC_PREFIX}.offsets`;
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
        if (!cdc.retriable) {
          this.#state = 'failed';
          throw cdc;
        }
        this.#state = 'retrying';
        this.metrics.restarts.inc({ code: cdc.code });
        const delay = backoffDelay(DEFAULT_RETRY, Math.min(attempt, 8));
        this.#log.warn({ ...errorFields(cdc), retryInMs: delay }, 'source pipeline failed; restarting from the last committed position');
        await sleep(delay, undefined, { signal }).catch(() => undefined);
      } finally {
        await this.#teardown();
      }
    }
  }

  async stop(): Promise<void> {
    this.#stop.abort();
  }

  async #runPipeline(): Promise<void> {
    const config = this.#config;
    const connection: MysqlConnectionOptions = { host: config.MYSQL_HOST, port: config.MYSQL_PORT, user: config.MYSQL_USER, password: config.MYSQL_PASSWORD };
    const signal = this.#stop.signal;
    const onRetry = (error: unknown, attempt: number, delayMs: number) =>
      this.#log.warn({ ...errorFields(error), attempt, retryInMs: delayMs }, 'retrying start-up step');

    this.#facts = await withRetry(() => checkSource(connection, this.#serverId), { signal, onRetry });
    if (this.#facts.rowMetadata !== 'FULL') {
      this.#log.warn({ binlog_row_metadata: this.#facts.rowMetadata }, 'binlog_row_metadata is not FULL: table metadata comes from information_schema, which races with DDL; set binlog_row_metadata=FULL');
    }
    this.#writer = new TransactionalWriter(this.#kafka, {
      exactlyOnce: config.EXACTLY_ONCE,
      sourceId: config.SOURCE_ID,
      offsetsTopic: this.offsetsTopic,
      partitions: config.TOPIC_PARTITIONS,
      replicationFactor: config.TOPIC_REPLICATION_FACTOR,
    });
    await ensureOffsetsTopic(this.#kafka, this.offsetsTopic, config.TOPIC_REPLICATION_FACTOR);
    await this.#writer.connect();
    const encoder = new EventEncoder(this.#registry, {
      prefix: config.TOPIC_PREFIX,
      sourceId: config.SOURCE_ID,
      connector: this.#facts.connector,
      compatibility: config.SCHEMA_COMPATIBILITY,
      version: VERSION,
    });
    let stored = await readStoredOffset(this.#kafka, this.offsetsTopic, config.SOURCE_ID);
    this.#committed = stored?.position;
    this.#positionTime = stored?.ts ?? 0;
    let resumeSnapshot = stored?.snapshot;
    if (stored) {
      try {
        await this.#checkRetention(connection, stored.position);
      } catch (error) {
        // An unfinished snapshot, or when_needed, starts a new snapshot instead of failing.
        const recoverable = error instanceof CdcError && error.code === 'SOURCE_POSITION_PURGED' && (resumeSnapshot || config.SNAPSHOT_MODE === 'when_needed');
        if (!recoverable) throw error;
        this.#log.warn({ ...errorFields(error), snapshotMode: config.SNAPSHOT_MODE }, 'the stored position was purged from the server: taking a new snapshot of every captured table');
        stored = undefined;
        resumeSnapshot = undefined;
      }
    }
    if (config.SNAPSHOT_MODE !== 'never' && (!stored || resumeSnapshot)) {
      const streamFrom = await this.#takeSnapshot(connection, encoder, resumeSnapshot);
      if (!streamFrom) return;
      stored = { position: streamFrom, ts: Date.now() };
    }
    if (config.SNAPSHOT_MODE === 'initial_only') {
      this.#log.info('SNAPSHOT_MODE=initial_only: snapshot complete, stopping');
      return;
    }
    const resumeAt = stored && config.RESUME_BY === 'file' ? new SourcePosition(stored.position.file, stored.position.pos) : stored?.position;
    // `earliest` is the oldest binlog file still on the server, by file: GTID history from the
    // beginning is refused by a server that has purged binlogs.
    const from: StartFrom = resumeAt
      ? { position: resumeAt }
      : config.START_POSITION === 'latest'
        ? { latest: true }
        : { position: new SourcePosition(await withRetry(() => this.#oldestBinlog(connection), { signal, onRetry }), 4) };
    this.#log.info({ from: resumeAt ? resumeAt.toJSON() : config.START_POSITION, server: this.#facts.version, serverId: this.#serverId }, 'starting binlog reader');

    const reader = new BinlogReader(connection, this.#serverId, (db, table) => this.#captures(db, table));
    this.#reader = reader;
    const queue = new TransactionQueue(config.QUEUE_MAX_BYTES, () => reader.pause(), () => reader.resume());
    let readerError: CdcError | undefined;
    let progress: SourcePosition | undefined;
    reader.on('transaction', (tx) => queue.push(tx));
    reader.on('progress', (position) => {
      progress = position;
    });
    reader.on('error', (error) => {
      readerError = error;
      queue.wake();
    });
    reader.start(from);
    this.#state = 'streaming';

    const idleCommitMs = config.HEARTBEAT_INTERVAL_MS || IDLE_POSITION_COMMIT_MS;
    while (!signal.aborted) {
      await Promise.race([queue.wait(idleCommitMs), new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }))]);
      if (readerError) throw readerError;
      if (signal.aborted) break;
      if (queue.length > 0 && config.TXN_LINGER_MS > 0) await sleep(config.TXN_LINGER_MS);
      const batch = queue.take(config.TXN_MAX_EVENTS, config.TXN_MAX_BYTES);
      this.metrics.queueBytes.set(queue.bytes);
      if (this.#committed && Date.now() - this.#retentionCheckedAt > RETENTION_CHECK_MS) {
        this.#retentionCheckedAt = Date.now();
        await this.#checkRetention(connection, this.#committed);
      }
      if (batch.length > 0) {
        await this.#commitBatch(encoder, batch);
      } else if (Date.now() - this.#lastCommitAt >= idleCommitMs) {
        await this.#commitIdle(progress);
      }
    }
  }

  /**
   * Runs (or resumes) the initial snapshot, one Kafka transaction per chunk with its progress.
   * Returns the position streaming starts from, or undefined when stopped before the end.
   */
  async #takeSnapshot(connection: MysqlConnectionOptions, encoder: EventEncoder, resume: SnapshotProgress | undefined): Promise<SourcePosition | undefined> {
    const config = this.#config;
    const snapshot = new InitialSnapshot(connection, { captures: (db, t) => this.#captures(db, t), chunkRows: config.SNAPSHOT_CHUNK_ROWS, serverId: this.#serverId }, this.#log);
    this.#snapshot = snapshot;
    this.#state = 'snapshotting';
    const report = new SnapshotReporter(snapshot, this.metrics, this.#log);
    for await (const chunk of snapshot.chunks(resume, this.#stop.signal)) {
      const started = process.hrtime.bigint();
      const records: EncodedRecord[] = [];
      for (const event of chunk.events) {
        const shaped = this.#transform(event);
        if (shaped) records.push(await encoder.encode(shaped));
      }
      await this.#writer!.ensureTopics(new Set(records.map((r) => r.topic)));
      const streamFrom = SourcePosition.fromJSON(chunk.progress.streamFrom);
      const finished = chunk.progress.done.length === chunk.progress.tables.length;
      await this.#writer!.commit(records, streamFrom, finished ? undefined : chunk.progress);
      this.#committed = streamFrom;
      this.#lastCommitAt = Date.now();
      this.metrics.transactions.inc();
      this.metrics.commitSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      report.chunkCommitted(chunk.events);
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
      const topic = `${config.TOPIC_PREFIX}.heartbeats`;
      await this.#writer!.ensureTopics([topic]);
      const value = Buffer.from(JSON.stringify({ sourceId: config.SOURCE_ID, position: position.toJSON(), ts: Date.now() }));
      records.push({ topic, key: Buffer.from(config.SOURCE_ID), value, bytes: value.length });
    } else if (position === this.#committed) {
      return;
    }
    await this.#writer!.commit(records, position);
    this.#committed = position;
    this.#lastCommitAt = Date.now();
    this.#positionTime = this.#lastCommitAt;
    if (records.length > 0) this.metrics.heartbeats.inc();
  }

  async #heartbeatQuery(statement: string): Promise<void> {
    const config = this.#config;
    const conn = await mysql.createConnection({ host: config.MYSQL_HOST, port: config.MYSQL_PORT, user: config.MYSQL_USER, password: config.MYSQL_PASSWORD, connectTimeout: 10_000 });
    try {
      await conn.query(statement);
    } catch (error) {
      this.#log.warn({ err: errorMessage(error) }, 'HEARTBEAT_QUERY failed');
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

  async #oldestBinlog(connection: MysqlConnectionOptions): Promise<string> {
    const conn = await mysql.createConnection({ ...connection, connectTimeout: 10_000 }).catch((error: unknown) => {
      throw new CdcError('SOURCE_UNREACHABLE', `Cannot connect to ${connection.host}:${connection.port}: ${errorMessage(error)}`, { cause: error, retriable: true });
    });
    try {
      return await oldestBinlogFile(conn);
    } finally {
      await conn.end().catch(() => undefined);
    }
  }

  /** Fails with SOURCE_POSITION_PURGED when the position is gone; exports the headroom. */
  async #checkRetention(connection: MysqlConnectionOptions, position: SourcePosition): Promise<void> {
    const conn = await mysql.createConnection({ ...connection, connectTimeout: 10_000 });
    try {
      const report = await checkRetention(conn, position, { positionTimeMs: this.#positionTime || Date.now(), startTimeOf: (file) => this.#binlogStartTime(connection, file) });
      this.#retention = report;
      this.metrics.headroomBytes.set(report.headroomBytes);
      this.metrics.headroomSeconds.set(report.headroomSeconds);
      this.metrics.retentionSeconds.set(report.retentionSeconds);
      if (report.headroomBytes < this.#config.RETENTION_WARN_BYTES || report.headroomSeconds < this.#config.RETENTION_WARN_SECONDS) {
        this.#log.warn({ ...report, position: position.toJSON() }, 'the stored position is close to the oldest binlog on the server: raise binlog retention or the source may lose its position');
      }
    } finally {
      await conn.end().catch(() => undefined);
    }
  }

  async #commitBatch(encoder: EventEncoder, batch: SourceTransaction[]): Promise<void> {
    const started = process.hrtime.bigint();
    const records: EncodedRecord[] = [];
    for (const tx of batch) {
      const markers = this.#config.TRANSACTION_METADATA ? transactionMarkers(tx, this.#config.TOPIC_PREFIX) : undefined;
      if (markers) records.push(markers.begin);
      for (const event of tx.events) {
        const shaped = this.#transform(event);
        if (!shaped) continue;
        const record = await encoder.encode(shaped);
        records.push(record);
        // A tombstone after a delete lets log compaction drop the key (Debezium's default too).
        if (shaped.op === 'd' && this.#config.TOMBSTONES_ON_DELETE && record.key) records.push({ topic: record.topic, key: record.key, value: null, bytes: record.key.length });
      }
      if (markers) records.push(markers.end);
    }
    await this.#writer!.ensureTopics(new Set(records.map((r) => r.topic)));
    const end = batch.at(-1)!.end;
    await this.#writer!.commit(records, end);
    this.#committed = end;
    this.#lastCommitAt = Date.now();
    this.metrics.transactions.inc();
    this.metrics.commitSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
    let lastTs = 0;
    for (const tx of batch) {
      for (const event of tx.events) {
        const table = `${event.schema.database}.${event.schema.table}`;
        this.metrics.events.inc({ table, op: event.op });
        this.#counts.set(table, (this.#counts.get(table) ?? 0) + 1);
        lastTs = event.tsMs;
      }
    }
    this.metrics.lagSeconds.set(Math.max(0, (Date.now() - lastTs) / 1000));
    this.#positionTime = lastTs;
  }

  #captures(database: string, table: string): boolean {
    return tableSelected(this.#config, database, table);
  }

  async #teardown(): Promise<void> {
    await this.#reader?.stop();
    this.#reader = undefined;
    await this.#writer?.close();
    this.#writer = undefined;
    if (this.#stop.signal.aborted) this.#state = 'stopped';
  }

  healthy(): boolean {
    return this.#state !== 'failed';
  }

  ready(): { ready: boolean; reason?: string } {
    if (this.#state === 'streaming' || this.#state === 'snapshotting') return { ready: true };
    return { ready: false, reason: this.#lastError ? this.#lastError.describe() : this.#state };
  }

  status(): unknown {
    return {
      service: 'source',
      version: VERSION,
      state: this.#state,
      sourceId: this.#config.SOURCE_ID,
      server: this.#facts,
      position: this.#committed?.toJSON(),
      binlogRetention: this.#retention ?? null,
      snapshot: this.#snapshot ? snapshotStatus(this.#snapshot) : null,
      lastCommitAt: this.#lastCommitAt ? new Date(this.#lastCommitAt).toISOString() : null,
      tables: Object.fromEntries(this.#counts),
      lastError: this.#lastError ? { code: this.#lastError.code, message: this.#lastError.message, hint: this.#lastError.hint } : null,
      config: redactConfig(sourceSpec, this.#config),
    };
  }
}
