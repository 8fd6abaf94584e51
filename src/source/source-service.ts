import type { Kafka } from 'kafkajs';
import { CdcError, errorMessage, toCdcError } from '../core/errors.ts';
import { createKafka, kafkaSettings } from '../core/kafka.ts';
import { errorFields, type Logger } from '../core/logger.ts';
import { type Readiness, secondsSince } from '../core/probe.ts';
import type { MysqlConnectionOptions } from '../core/mysql-options.ts';
import { RetryLog, withRetry } from '../core/retry.ts';
import { optionalRegistry, type Registry } from '../core/schema-registry.ts';
import { ServiceBase } from '../core/service-base.ts';
import { offsetsTopic, topicFor } from '../core/topics.ts';
import { redactConfig } from '../config/env.ts';
import { replicaServerId, sourceSpec, type SourceConfig } from '../config/source.ts';
import type { Transform } from '../transforms/transform.ts';
import { heartbeatSeconds } from './binlog-heartbeat.ts';
import { historyChange, readHistoryFacts, serverIdentity } from './binlog-history.ts';
import { CommittedPosition } from './committed-position.ts';
import { EventEncoder } from './event-encoder.ts';
import { TransactionalWriter } from './kafka-writer.ts';
import { endHangingTransaction, kafkaPorts } from './hanging-transaction.ts';
import { oversizePolicyOf } from './oversize-policy.ts';
import { mysqlConnection, withConnection } from './mysql-connection.ts';
import { ensureOffsetsTopic, readSourceOffset, type SourceStoredOffset } from './offset-store.ts';
import { OperatorPause } from './operator-pause.ts';
import { checkSource, type ServerFacts } from './preconditions.ts';
import { openStored, ProgressSeal } from './progress-seal.ts';
import { RetentionWatch } from './retention-watch.ts';
import { checkSignalTable } from './signal-table.ts';
import { capturesOf, SnapshotStreamCoordinator } from './snapshot-stream-coordinator.ts';
import { capturedTables, splitQualified } from './table-reader.ts';
import { snapshotStatus } from './snapshot-progress.ts';
import { createSourceMetrics, type SourceMetrics } from './source-metrics.ts';
import { sourceTransform } from './source-transform.ts';
import { planStart, type StartFacts } from './start-plan.ts';
import { loadSchemaRules, schemaRules } from './table-schema.ts';
import { VERSION } from '../version.ts';

/**
 * The source: binlog → ChangeEvents → Avro → one Kafka transaction per group of binlog
 * transactions, together with the new position. This class owns the lifecycle: it checks the
 * server, makes the start plan and hands it to the coordinator (snapshot, then stream); retriable
 * failures restart the pipeline from the last committed position (nothing uncommitted is kept),
 * fatal ones stop it with a coded error. It also answers health, readiness and status.
 */
export class SourceService extends ServiceBase<'snapshotting' | 'streaming' | 'paused'> {
  readonly metrics: SourceMetrics = createSourceMetrics(() => (this.#coordinator?.reader ? (Date.now() - this.#coordinator.reader.lastEventAt) / 1000 : null));
  readonly #config: SourceConfig;
  readonly #log: Logger;
  readonly #kafka: Kafka;
  readonly #registry: Registry | undefined;
  readonly #serverId: number;
  readonly #committed = new CommittedPosition();
  readonly #retention: RetentionWatch;
  #writer: TransactionalWriter | undefined;
  #coordinator: SnapshotStreamCoordinator | undefined;
  #facts: ServerFacts | undefined;
  readonly #pause = new OperatorPause();
  #pausedAt = 0;
  /** Changes committed per table since start, for /status. */
  readonly #tableCounts = new Map<string, number>();
  /** Since when the current state (streaming, snapshotting) has run: the stall clock's origin. */
  #stateSince = Date.now();
  /** Why an operator (or the service itself) paused reading the binlog; undefined while reading. */
  #pausedBy: string | undefined;
  /** Column selection, masking and TRANSFORMS: every snapshot row and streamed change passes here before encoding. */
  readonly #transform: Transform;
  /** Retried failures are warnings until they last READY_STALL_SECONDS, then errors. */
  readonly #retryLog: RetryLog;
  readonly #onRetry = (error: unknown, attempt: number, delayMs: number): void => this.#retryLog.failed(this.#log, error, { attempt, retryInMs: delayMs }, 'retrying start-up step');

  constructor(config: SourceConfig, log: Logger) {
    super('source');
    this.#config = config;
    this.#log = log;
    this.#retryLog = new RetryLog(config.READY_STALL_SECONDS * 1000);
    this.#transform = sourceTransform(config);
    this.#serverId = replicaServerId(config);
    this.#kafka = createKafka(kafkaSettings(config), log);
    this.#registry = optionalRegistry(config);
    this.#retention = new RetentionWatch(config, mysqlConnection(config), this.#committed, this.metrics, log);
  }

  get offsetsTopic(): string {
    return offsetsTopic(this.#config.TOPIC_PREFIX);
  }

  /** Runs until stop() or a fatal error (which it throws). */
  async run(): Promise<void> {
    await this.restartOnFailure(() => this.#runPipeline(), {
      classify: (error) => (error instanceof CdcError ? error : new CdcError('INTERNAL', errorMessage(error), { cause: error })),
      teardown: () => this.#teardown(),
      restarts: this.metrics.restarts,
      log: this.#log,
      restarting: 'source pipeline failed; restarting from the last committed position',
      retryLog: this.#retryLog,
      hold: (error) => this.#holdForOperator(error),
    });
  }

  /** Paused (SCHEMA_INCOMPATIBLE): try again now instead of at the next interval. False when not paused. */
  retryNow(): boolean {
    return this.#pause.retryNow();
  }

  /** An error only an operator can resolve: hold the last committed position, alive and unready, and try again every interval. */
  async #holdForOperator(error: CdcError): Promise<boolean> {
    if (!OperatorPause.appliesTo(error)) return false;
    this.state = 'paused';
    this.#pausedAt = Date.now();
    this.metrics.restarts.inc({ code: error.code });
    this.#log.error(
      { ...errorFields(error), retryInMs: this.#config.SCHEMA_RETRY_INTERVAL_MS, position: this.#committed.position?.toJSON() },
      'source paused at its last committed position until an operator resolves the error',
    );
    await this.#pause.hold(this.#config.SCHEMA_RETRY_INTERVAL_MS, this.stopSignal);
    return true;
  }

  async #runPipeline(): Promise<void> {
    const config = this.#config;
    const connection = mysqlConnection(config);
    const signal = this.stopSignal;
    const onRetry = this.#onRetry;

    this.#facts = await withRetry(() => checkSource(connection, this.#serverId), { signal, onRetry });
    if (this.#facts.rowMetadata !== 'FULL') {
      this.#log.warn(
        { binlog_row_metadata: this.#facts.rowMetadata },
        'binlog_row_metadata is not FULL: column names, types and primary keys come from information_schema, which describes tables as they are now, not when older rows were written (a DDL between the two misreads them); set binlog_row_metadata=FULL',
      );
    }
    const server = await withRetry(() => withConnection(connection, serverIdentity), { signal, onRetry });
    this.#writer = new TransactionalWriter(this.#kafka, {
      exactlyOnce: config.EXACTLY_ONCE,
      sourceId: config.SOURCE_ID,
      offsetsTopic: this.offsetsTopic,
      partitions: config.TOPIC_PARTITIONS,
      replicationFactor: config.TOPIC_REPLICATION_FACTOR,
      maxMessageBytes: config.TOPIC_MAX_MESSAGE_BYTES,
      compression: config.KAFKA_COMPRESSION,
      seal: ProgressSeal.forHashing(config),
      server,
    });
    await ensureOffsetsTopic(this.#kafka, this.offsetsTopic, config.TOPIC_REPLICATION_FACTOR);
    await this.#writer.connect();
    if (config.EXACTLY_ONCE) {
      const writer = this.#writer;
      await endHangingTransaction(
        kafkaPorts(this.#kafka, (partitions) => writer.abortWith(partitions), this.offsetsTopic, config.TOPIC_PREFIX),
        this.#log,
      );
    }
    const rules = schemaRules(config);
    await withRetry(() => withConnection(connection, (conn) => loadSchemaRules(rules, conn)), { signal, onRetry });
    if (config.SIGNAL_TABLE) await withRetry(() => withConnection(connection, (conn) => checkSignalTable(conn, config.SIGNAL_TABLE!)), { signal, onRetry });
    const stored = openStored(await readSourceOffset(this.#kafka, this.offsetsTopic, config.SOURCE_ID), ProgressSeal.forHashing(config));
    this.#committed.restore(stored?.position, stored?.ts ?? 0);
    const { history, retentionError } = stored ? await this.#checkStored(connection, stored) : { history: undefined, retentionError: undefined };
    const plan = planStart({ stored, retentionError, history, connector: this.#facts.connector, serverVersion: this.#facts.version, config });
    if (plan.action === 'fail') throw plan.error;
    if (plan.positionLost) {
      this.#log.warn({ ...errorFields(retentionError), binlog: history?.reason, epoch: plan.epoch, snapshotMode: config.SNAPSHOT_MODE, onPositionLost: config.ON_POSITION_LOST }, plan.positionLost);
      this.#committed.position = undefined;
    }
    if (plan.otherServer) {
      this.#log.warn({ stored: stored!.position.toJSON(), server, epoch: plan.epoch }, plan.otherServer);
      // The stored file and offset are another server's: nothing to check retention against until the first commit here.
      this.#committed.position = undefined;
    }
    const encoder = new EventEncoder(this.#registry, {
      prefix: config.TOPIC_PREFIX,
      sourceId: config.SOURCE_ID,
      connector: this.#facts.connector,
      compatibility: config.SCHEMA_COMPATIBILITY,
      converter: config.VALUE_CONVERTER,
      version: VERSION,
      epoch: plan.epoch,
      oversize: oversizePolicyOf(config, (table, outcome) => this.metrics.oversizeRecords.inc({ table, outcome })),
    });
    // Two captured tables on one topic are refused before anything is written; with a route
    // transform the topics are known only per change, and the encoder checks them there.
    if (!config.TRANSFORMS.some((t) => t.type === 'route')) {
      const tables = await withRetry(() => withConnection(connection, (conn) => capturedTables(conn, capturesOf(config))), { signal, onRetry });
      for (const [db, t] of tables.map(splitQualified)) encoder.topicClaims.claim(topicFor(config.TOPIC_PREFIX, db, t), config.TOPIC_PREFIX, db, t);
    }
    const coordinator = new SnapshotStreamCoordinator({
      config,
      log: this.#log,
      connection,
      serverId: this.#serverId,
      facts: this.#facts,
      writer: this.#writer,
      encoder,
      transform: this.#transform,
      rules,
      metrics: this.metrics,
      tableCounts: this.#tableCounts,
      committed: this.#committed,
      retention: this.#retention,
      signal,
      enter: (stage) => this.#enter(stage),
      pausedBy: () => this.#pausedBy,
      onRetry,
      recovered: () => this.#retryLog.succeeded(),
    });
    this.#coordinator = coordinator;
    await coordinator.run(plan, stored);
  }

  /**
   * Where the stored position stands on the server now: in another binlog history (the server
   * changed, or started its binlog again), or in this one, where it may have been purged.
   */
  async #checkStored(connection: MysqlConnectionOptions, stored: SourceStoredOffset): Promise<Pick<StartFacts, 'history' | 'retentionError'>> {
    const read = () => withConnection(connection, (conn) => readHistoryFacts(conn, this.#facts!.connector, stored.position));
    const facts = await withRetry(read, { signal: this.stopSignal, onRetry: this.#onRetry });
    const history = historyChange(stored, facts);
    if (history) return { history, retentionError: undefined };
    const retentionError = await this.#retention.check(stored.position).then(
      () => undefined,
      (error: unknown) => toCdcError(error, 'SOURCE_UNREACHABLE', 'Checking the stored position against the server failed'),
    );
    return { history: undefined, retentionError };
  }

  /** The coordinator's stage; after an operator pause the source counts as streaming (ready) only once it committed again. */
  #enter(stage: 'snapshotting' | 'streaming'): void {
    if (stage === 'streaming' && this.state === 'paused' && this.#committed.lastCommitAt <= this.#pausedAt) return;
    if (this.state === stage) return;
    this.state = stage;
    this.#stateSince = Date.now();
  }

  async #teardown(): Promise<void> {
    // The coordinator stays for /status (its snapshot's and incremental snapshot's progress) until the next run replaces it.
    await this.#coordinator?.stop();
    await this.#writer?.close();
    this.#writer = undefined;
  }

  /**
   * Stops reading the binlog until resume(): what is queued is still committed, the stored
   * position stays where it is, and readiness says why. For operators (admin API) and for the
   * service itself when it must wait for one. Returns false when it was already paused.
   */
  pause(reason: string): boolean {
    if (this.#pausedBy) return false;
    this.#pausedBy = reason;
    this.#coordinator?.reader?.pause('operator');
    this.metrics.paused.set(1);
    this.#log.warn({ reason }, 'source paused: not reading the binlog until resumed');
    return true;
  }

  /** Resumes reading after pause(); false when it was not paused. */
  resume(): boolean {
    if (!this.#pausedBy) return false;
    this.#pausedBy = undefined;
    this.#coordinator?.reader?.resume('operator');
    this.metrics.paused.set(0);
    this.#log.info('source resumed');
    return true;
  }

  ready(): Readiness {
    const stall = this.#config.READY_STALL_SECONDS;
    const reader = this.#coordinator?.reader;
    const silent = this.state === 'streaming' && reader ? reader.silentSeconds : 0;
    const lastCommitAt = this.#committed.lastCommitAt;
    const progressIdle = secondsSince(Math.max(lastCommitAt, this.#stateSince))!;
    const queued = this.#coordinator?.queue?.length ?? 0;
    return this.readinessOf(
      ['streaming', 'snapshotting'],
      [
        this.#pausedBy !== undefined && `paused: ${this.#pausedBy}`,
        silent > stall &&
          `the binlog connection has been silent for ${silent} s: no event, not even a server heartbeat (requested every ${heartbeatSeconds(stall)} s), so the server or the network between us hangs (READY_STALL_SECONDS=${stall})`,
        this.state === 'streaming' && queued > 0 && progressIdle > stall && `${queued} change(s) wait, but nothing was committed to Kafka for ${progressIdle} s (READY_STALL_SECONDS=${stall})`,
        this.state === 'snapshotting' && progressIdle > stall && `no snapshot chunk was committed for ${progressIdle} s (READY_STALL_SECONDS=${stall})`,
      ],
      {
        paused: this.#pausedBy ?? false,
        secondsSinceBinlogEvent: reader ? secondsSince(reader.lastEventAt) : null,
        secondsSinceCommit: secondsSince(lastCommitAt || undefined),
        queuedChanges: queued,
        lastError: this.lastError?.code ?? null,
      },
    );
  }

  status(): unknown {
    const lastCommitAt = this.#committed.lastCommitAt;
    const snapshot = this.#coordinator?.snapshot;
    return this.statusOf(
      {
        paused: this.#pausedBy ?? false,
        sourceId: this.#config.SOURCE_ID,
        server: this.#facts,
        position: this.#committed.position?.toJSON(),
        binlogRetention: this.#retention.report ?? null,
        snapshot: snapshot ? snapshotStatus(snapshot) : null,
        incrementalSnapshot: this.#coordinator?.incremental?.progress ?? null,
        lastCommitAt: lastCommitAt ? new Date(lastCommitAt).toISOString() : null,
        tables: Object.fromEntries(this.#tableCounts),
      },
      redactConfig(sourceSpec, this.#config),
    );
  }
}
