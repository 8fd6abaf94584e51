import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@elastic/elasticsearch';
import type { Kafka } from 'kafkajs';
import { CdcError, errorMessage } from '../core/errors.ts';
import { createKafka, kafkaError, kafkaSettings } from '../core/kafka.ts';
import { errorFields, type Logger } from '../core/logger.ts';
import { RetryLog } from '../core/retry.ts';
import { optionalRegistry } from '../core/schema-registry.ts';
import { deadLetterTopic } from '../core/topics.ts';
import { redactConfig } from '../config/env.ts';
import type { OffsetsConfig } from '../config/offsets.ts';
import { sinkSpec, sinkTopicPatterns, type SinkConfig } from '../config/sink.ts';
import { resetOffsets, showOffsets, type OffsetsReport, type ResetPlan, type ResetTarget } from '../ops/offsets.ts';
import { type Readiness, secondsSince } from '../core/probe.ts';
import { errorSummary, ServiceBase } from '../core/service-base.ts';
import { BatchPipeline } from './batch-pipeline.ts';
import { BulkWriter } from './bulk-writer.ts';
import { DeadLetterQueue } from './dead-letter-queue.ts';
import { metadataMappings } from './document-metadata.ts';
import { checkElasticsearchAccess, elasticsearchClient } from './elasticsearch-client.ts';
import { isHeldCondition } from './elasticsearch-errors.ts';
import { IndexManager } from './index-manager.ts';
import { recordSettings } from './record-actions.ts';
import { RecordDecoder } from './record-decoder.ts';
import { SinkConsumer } from './sink-consumer.ts';
import { createSinkMetrics, type SinkMetrics } from './sink-metrics.ts';

/**
 * The sink: a consumer group on the change topics (SinkConsumer) → decode → one document action
 * per change with its external version → bulk → commit offsets (BatchPipeline). An offset is
 * committed only after everything before it is durable in Elasticsearch, so a crash re-reads, and
 * re-applying is harmless. This class owns the lifecycle, health, readiness and status.
 */
export class SinkService extends ServiceBase<'running'> {
  readonly metrics: SinkMetrics = createSinkMetrics();
  readonly #config: SinkConfig;
  readonly #log: Logger;
  readonly #kafka: Kafka;
  readonly #es: Client;
  readonly #writer: BulkWriter;
  readonly #dlq: DeadLetterQueue;
  readonly #pipeline: BatchPipeline;
  readonly #consumer: SinkConsumer;
  /** Why the last Elasticsearch health probe failed; undefined when it answered. */
  #elasticsearchProblem: string | undefined;
  /** Serialises consumer replacement (topic refresh) with admin operations that need it stopped. */
  #consumerLock: Promise<unknown> = Promise.resolve();

  constructor(config: SinkConfig, log: Logger) {
    super('sink');
    this.#config = config;
    this.#log = log;
    this.#kafka = createKafka(kafkaSettings(config), log);
    this.#es = elasticsearchClient(config);
    const indices = new IndexManager(
      this.#es,
      {
        gcDeletes: config.INDEX_GC_DELETES,
        shards: config.INDEX_SHARDS,
        replicas: config.INDEX_REPLICAS,
        softDeletes: config.DELETE_MODE === 'soft',
        writeAlias: config.INDEX_WRITE_ALIAS,
        extraProperties: metadataMappings(config.DOCUMENT_METADATA ?? [], config.DOCUMENT_METADATA_PREFIX),
        jsonColumns: config.JSON_COLUMNS,
        concurrency: config.SINK_INDEX_CONCURRENCY,
      },
      log,
    );
    this.#writer = new BulkWriter(this.#es, { maxActions: config.BULK_MAX_ACTIONS, maxBytes: config.BULK_MAX_BYTES, maxRequestBytes: config.ELASTICSEARCH_MAX_REQUEST_BYTES }, log);
    this.#dlq = new DeadLetterQueue(this.#kafka, deadLetterTopic(config.TOPIC_PREFIX, config.DLQ_TOPIC), config.TOPIC_MAX_MESSAGE_BYTES);
    this.#pipeline = new BatchPipeline({
      decoder: new RecordDecoder(optionalRegistry(config)),
      settings: recordSettings(config),
      indices,
      writer: this.#writer,
      dlq: this.#dlq,
      metrics: this.metrics,
      log,
      errorsTolerance: config.ERRORS_TOLERANCE,
      maxActions: config.BULK_MAX_ACTIONS,
      maxBytes: config.BULK_MAX_BYTES,
      bulksInFlight: config.SINK_BULKS_IN_FLIGHT,
      partitionConcurrency: config.SINK_PARTITION_CONCURRENCY,
      signal: this.stopSignal,
    });
    this.#consumer = new SinkConsumer(
      this.#kafka,
      this.#pipeline,
      {
        groupId: config.SINK_GROUP_ID,
        sessionTimeoutMs: config.SINK_SESSION_TIMEOUT_MS,
        topicPatterns: sinkTopicPatterns(config),
        // Partitions waiting for a new index give their place to others (BatchPipeline): as many
        // more batches as indices can be prepared at once are handed out, so the places stay busy.
        partitionConcurrency: config.SINK_PARTITION_CONCURRENCY + config.SINK_INDEX_CONCURRENCY,
        fetchMaxBytes: config.SINK_FETCH_MAX_BYTES,
        retryWarnMs: config.READY_STALL_SECONDS * 1000,
        pickupMaxDelayMs: config.TOPIC_PICKUP_MAX_DELAY_MS,
      },
      this.metrics,
      log,
      this.stopSignal,
      (error) => {
        this.lastError = error;
      },
    );
  }

  /** Runs until stop() or a fatal error (which it throws). */
  async run(): Promise<void> {
    const signal = this.stopSignal;
    await checkElasticsearchAccess(this.#es).catch((error: unknown) => {
      throw this.fail(error as CdcError);
    });
    const probing = this.#probeElasticsearch(signal);
    this.#consumer.fatal = undefined;
    await this.restartOnFailure(
      async (recovered) => {
        while (!signal.aborted) {
          await this.#exclusive(() => this.#consumer.refresh());
          this.state = 'running';
          recovered();
          await sleep(this.#config.TOPIC_REFRESH_MS, undefined, { signal }).catch(() => undefined);
          if (this.#consumer.fatal) throw this.#consumer.fatal;
        }
      },
      {
        classify: (error) => (error instanceof CdcError ? error : kafkaError(error, 'consuming')),
        teardown: () => this.#close(),
        restarts: this.metrics.restarts,
        log: this.#log,
        restarting: 'sink failed; restarting from the committed offsets',
        // Retried failures are warnings until they last READY_STALL_SECONDS, then errors.
        retryLog: new RetryLog(this.#config.READY_STALL_SECONDS * 1000),
      },
    );
    await probing;
  }

  /**
   * Asks Elasticsearch for its health every few seconds, so readiness reflects an unreachable
   * cluster even while no change is flowing. Ends with `signal`.
   */
  async #probeElasticsearch(signal: AbortSignal): Promise<void> {
    const every = Math.min(5_000, (this.#config.READY_STALL_SECONDS * 1000) / 2);
    while (!signal.aborted) {
      try {
        await this.#es.cluster.health({ timeout: '5s' }, { requestTimeout: 5_000, signal });
        this.#elasticsearchProblem = undefined;
      } catch (error) {
        if (!signal.aborted) this.#elasticsearchProblem = errorMessage(error);
      }
      this.metrics.elasticsearchUp.set(this.#elasticsearchProblem ? 0 : 1);
      await sleep(every, undefined, { signal }).catch(() => undefined);
    }
  }

  async #close(): Promise<void> {
    await this.#consumer.close();
    await this.#dlq.close();
  }

  #exclusive<T>(work: () => Promise<T>): Promise<T> {
    const done = this.#consumerLock.then(work);
    this.#consumerLock = done.catch(() => undefined);
    return done;
  }

  #offsetsConfig(): OffsetsConfig {
    return { ...this.#config, SOURCE_ID: undefined };
  }

  /** The group's committed offsets, log ranges and lag (the same report as `cdc offsets show`). */
  showOffsets(): Promise<OffsetsReport> {
    return showOffsets(this.#kafka, this.#offsetsConfig());
  }

  /**
   * The same reset as `cdc offsets reset`. A reset is refused while the group has members, so this
   * sink leaves its group for it (offsets committed so far stay), resets and rejoins; other running
   * members of the group still make it fail with GROUP_ACTIVE. A dry run leaves the group alone.
   */
  async resetOffsets(target: ResetTarget, dryRun: boolean): Promise<ResetPlan> {
    if (dryRun) return resetOffsets(this.#kafka, this.#offsetsConfig(), target, true);
    return this.#exclusive(async () => {
      await this.#close();
      try {
        return await resetOffsets(this.#kafka, this.#offsetsConfig(), target, false);
      } catch (error) {
        if (error instanceof CdcError && error.code === 'GROUP_ACTIVE') {
          throw new CdcError('GROUP_ACTIVE', `${error.message} besides this sink, which left the group for the reset and rejoined`, {
            hint: 'Other sinks of this group are running: stop them (or stop all and use `cdc offsets reset`), then reset again.',
          });
        }
        throw error;
      } finally {
        await this.#consumer.refresh().catch((error: unknown) => this.#log.warn(errorFields(error), 'rejoining after the offsets reset failed; the next topic refresh retries'));
      }
    });
  }

  /**
   * Stops fetching (the batches in hand are finished and committed) without leaving the consumer
   * group, so no rebalance moves the partitions elsewhere. Returns false when already paused.
   */
  pause(reason: string): boolean {
    if (!this.#consumer.pause(reason)) return false;
    this.metrics.paused.set(1);
    this.#log.warn({ reason }, 'sink paused: not consuming until resumed');
    return true;
  }

  resume(): boolean {
    if (!this.#consumer.resume()) return false;
    this.metrics.paused.set(0);
    this.#log.info('sink resumed');
    return true;
  }

  ready(): Readiness {
    const stall = this.#config.READY_STALL_SECONDS;
    const chunkSince = this.#pipeline.oldestChunkSince;
    const chunkIdle = secondsSince(chunkSince) ?? 0;
    const failing = secondsSince(this.#writer.failingSince) ?? 0;
    const pausedBy = this.#consumer.pausedBy;
    const held = this.#heldBy();
    const writerHeld = this.#writer.failingSince !== undefined && isHeldCondition(this.#writer.lastFailure);
    return this.readinessOf(
      ['running'],
      [
        this.state === 'running' && this.#consumer.subscribed.size > 0 && !this.#consumer.joined && 'the consumer has not joined its group yet',
        pausedBy !== undefined && `paused: ${pausedBy}`,
        held !== undefined && `${held.partitions} partition(s) held, retrying: ${held.error.describe()}`,
        writerHeld && `bulk writes held, retrying: ${this.#writer.lastFailure!.describe()}`,
        this.#elasticsearchProblem !== undefined && `Elasticsearch does not answer its health check: ${this.#elasticsearchProblem}`,
        failing > stall && `bulk requests keep failing for ${failing} s: ${this.#writer.lastFailure?.message ?? ''}`,
        chunkIdle > stall && `a batch has waited ${chunkIdle} s to become durable (READY_STALL_SECONDS=${stall})`,
      ],
      {
        paused: pausedBy ?? false,
        joined: this.#consumer.joined,
        elasticsearch: this.#elasticsearchProblem ?? 'ok',
        secondsSinceProgress: secondsSince(this.#pipeline.lastProgressAt || undefined),
        secondsInCurrentBatch: secondsSince(chunkSince),
        bulkFailingSeconds: secondsSince(this.#writer.failingSince),
        lastError: this.lastError?.code ?? null,
        heldPartitions: this.#consumer.held.size,
      },
    );
  }

  /**
   * Partitions whose batch waits on a condition the operator must lift (shard limit, block,
   * privilege): reported at once, with the code. Other retried failures show through the stall checks.
   */
  #heldBy(): { partitions: number; error: CdcError } | undefined {
    let first: CdcError | undefined;
    let partitions = 0;
    for (const error of this.#consumer.held.values()) {
      if (!isHeldCondition(error)) continue;
      first ??= error;
      partitions++;
    }
    return first && { partitions, error: first };
  }

  status(): unknown {
    return this.statusOf(
      {
        paused: this.#consumer.pausedBy ?? false,
        group: this.#config.SINK_GROUP_ID,
        topics: [...this.#consumer.subscribed],
        committed: Object.fromEntries(this.#consumer.positions),
        records: Object.fromEntries(this.#consumer.counts),
        held: Object.fromEntries([...this.#consumer.held].map(([partition, held]) => [partition, errorSummary(held)])),
      },
      redactConfig(sinkSpec, this.#config),
    );
  }
}
