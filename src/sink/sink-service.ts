import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@elastic/elasticsearch';
import type { Batch, Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { CdcError, errorMessage, isServiceError } from '../core/errors.ts';
import { createKafka, kafkaError, kafkaSettings } from '../core/kafka.ts';
import { errorFields, type Logger } from '../core/logger.ts';
import { backoffDelay, DEFAULT_RETRY } from '../core/retry.ts';
import { optionalRegistry } from '../core/schema-registry.ts';
import { versionOf } from '../core/version.ts';
import { redactConfig } from '../config/env.ts';
import type { OffsetsConfig } from '../config/offsets.ts';
import { sinkSpec, sinkTopicPatterns, type SinkConfig } from '../config/sink.ts';
import { resetOffsets, showOffsets, type OffsetsReport, type ResetPlan, type ResetTarget } from '../ops/offsets.ts';
import { readiness, secondsSince, type Readiness } from '../http/readiness.ts';
import type { Probe } from '../http/server.ts';
import { VERSION } from '../version.ts';
import { lostGeneration } from './group-generation.ts';
import { BulkWriter, collapseById, type BulkAction } from './bulk-writer.ts';
import { ChangeDecoder, type DecodedChange } from './change-decoder.ts';
import { DeadLetterQueue, type DeadLetter } from './dead-letter-queue.ts';
import { documentId, documentJson, documentRow, rowDocumentId } from './document.ts';
import { metadataMappings, metadataOf } from './document-metadata.ts';
import { checkElasticsearchAccess, elasticsearchClient } from './elasticsearch-client.ts';
import { IndexManager } from './index-manager.ts';
import { indexName } from './index-naming.ts';
import { createSinkMetrics, type SinkMetrics } from './sink-metrics.ts';
import type { ChangeEvent, Row } from '../core/change-event.ts';
import { buildTransforms } from '../transforms/catalog.ts';
import { chain, type Transform } from '../transforms/transform.ts';

/**
 * The sink: a consumer group on the change topics → decode → one document action per change with
 * its external version → bulk → commit offsets. An offset is committed only after everything
 * before it is durable in Elasticsearch, so a crash re-reads, and re-applying is harmless.
 */
export class SinkService implements Probe {
  readonly metrics: SinkMetrics = createSinkMetrics();
  readonly #config: SinkConfig;
  readonly #log: Logger;
  readonly #kafka: Kafka;
  readonly #es: Client;
  readonly #decoder: ChangeDecoder;
  readonly #indices: IndexManager;
  readonly #writer: BulkWriter;
  readonly #dlq: DeadLetterQueue;
  readonly #topicPatterns: RegExp[];
  /** TRANSFORMS: every decoded change passes here before it becomes a document. */
  readonly #transform: Transform;
  readonly #stop = new AbortController();
  #consumer: Consumer | undefined;
  #subscribed = new Set<string>();
  #state: 'starting' | 'running' | 'retrying' | 'stopped' | 'failed' = 'starting';
  #joined = false;
  #lastError: CdcError | undefined;
  #fatal: CdcError | undefined;
  readonly #counts = new Map<string, number>();
  readonly #positions = new Map<string, string>();
  /** Why consumption is paused (admin API); undefined while consuming. */
  #pausedBy: string | undefined;
  /** When the chunk being made durable started; undefined between chunks. */
  #chunkSince: number | undefined;
  #lastProgressAt = 0;
  /** Why the last Elasticsearch health probe failed; undefined when it answered. */
  #elasticsearchProblem: string | undefined;
  /** Serialises consumer replacement (topic refresh) with admin operations that need it stopped. */
  #consumerLock: Promise<unknown> = Promise.resolve();

  constructor(config: SinkConfig, log: Logger) {
    this.#config = config;
    this.#log = log;
    this.#kafka = createKafka(kafkaSettings(config), log);
    this.#es = elasticsearchClient(config);
    this.#decoder = new ChangeDecoder(optionalRegistry(config));
    this.#indices = new IndexManager(
      this.#es,
      {
        gcDeletes: config.INDEX_GC_DELETES,
        softDeletes: config.DELETE_MODE === 'soft',
        writeAlias: config.INDEX_WRITE_ALIAS,
        extraProperties: metadataMappings(config.DOCUMENT_METADATA ?? [], config.DOCUMENT_METADATA_PREFIX),
      },
      log,
    );
    this.#writer = new BulkWriter(this.#es, { maxActions: config.BULK_MAX_ACTIONS, maxBytes: config.BULK_MAX_BYTES }, log);
    this.#dlq = new DeadLetterQueue(this.#kafka, config.DLQ_TOPIC ?? `${config.TOPIC_PREFIX}.dlq`);
    this.#topicPatterns = sinkTopicPatterns(config);
    this.#transform = chain(buildTransforms(config.TRANSFORMS, { side: 'sink', topicOf: (event) => event.topic! }));
  }

  /** Runs until stop() or a fatal error (which it throws). */
  async run(): Promise<void> {
    const signal = this.#stop.signal;
    await checkElasticsearchAccess(this.#es).catch((error: unknown) => {
      this.#state = 'failed';
      this.#lastError = error as CdcError;
      throw error;
    });
    const probing = this.#probeElasticsearch(signal);
    this.#fatal = undefined;
    for (let attempt = 0; !signal.aborted; ) {
      try {
        await this.#exclusive(() => this.#refreshConsumer());
        this.#state = 'running';
        attempt = 0;
        await sleep(this.#config.TOPIC_REFRESH_MS, undefined, { signal }).catch(() => undefined);
        if (this.#fatal) throw this.#fatal;
      } catch (error) {
        const cdc = error instanceof CdcError ? error : kafkaError(error, 'consuming');
        this.#lastError = cdc;
        await this.#closeConsumer();
        if (signal.aborted) break;
        if (!cdc.retriable) {
          this.#state = 'failed';
          throw cdc;
        }
        this.#state = 'retrying';
        this.metrics.restarts.inc({ code: cdc.code });
        const delay = backoffDelay(DEFAULT_RETRY, Math.min(attempt++, 8));
        this.#log.warn({ ...errorFields(cdc), retryInMs: delay }, 'sink failed; restarting from the committed offsets');
        await sleep(delay, undefined, { signal }).catch(() => undefined);
      }
    }
    await this.#closeConsumer();
    await probing;
    this.#state = 'stopped';
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

  async stop(): Promise<void> {
    this.#stop.abort();
  }

  /** (Re)starts the consumer when the matching topics changed or it is gone. */
  async #refreshConsumer(): Promise<void> {
    const topics = await this.#matchingTopics();
    if (sameSet(topics, this.#subscribed) && this.#consumer) return;
    await this.#closeConsumer();
    if (topics.size > 0) await this.#startConsumer(topics);
    else this.#log.info({ patterns: this.#topicPatterns.map(String) }, 'no matching topics yet; waiting');
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
      await this.#closeConsumer();
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
        await this.#refreshConsumer().catch((error: unknown) => this.#log.warn(errorFields(error), 'rejoining after the offsets reset failed; the next topic refresh retries'));
      }
    });
  }

  async #matchingTopics(): Promise<Set<string>> {
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
      const all = await admin.listTopics();
      return new Set(all.filter((t) => this.#topicPatterns.some((re) => re.test(t))));
    } catch (error) {
      throw kafkaError(error, 'listing topics');
    } finally {
      await admin.disconnect();
    }
  }

  async #startConsumer(topics: Set<string>): Promise<void> {
    const consumer = this.#kafka.consumer({
      groupId: this.#config.SINK_GROUP_ID,
      readUncommitted: false,
      sessionTimeout: this.#config.SINK_SESSION_TIMEOUT_MS,
      heartbeatInterval: Math.min(3_000, Math.floor(this.#config.SINK_SESSION_TIMEOUT_MS / 3)),
      maxBytesPerPartition: 8 * 1024 * 1024,
      maxWaitTimeInMs: 250,
    });
    this.#consumer = consumer;
    this.#joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => {
      this.#joined = true;
    });
    consumer.on(consumer.events.CRASH, (event: { payload: { error: Error; restart: boolean } }) => {
      if (!event.payload.restart) this.#fatal ??= kafkaError(event.payload.error, 'consumer');
    });
    await consumer.connect();
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    this.#subscribed = topics;
    this.#log.info({ topics: [...topics], group: this.#config.SINK_GROUP_ID, paused: this.#pausedBy ?? false }, 'consuming');
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 1,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        const active = () => isRunning() && !isStale() && !this.#stop.signal.aborted;
        const progress = { next: 0 };
        // Retriable failures (registry or Elasticsearch down) are retried here, heartbeating, so the
        // partition is held (not consumed further, not lost) until the batch is durable.
        for (let attempt = 0; ; attempt++) {
          try {
            await this.#processBatch(consumer, batch, progress, resolveOffset, heartbeat, active);
            return;
          } catch (error) {
            // The group moved on (a member joined or left) while this batch committed: its
            // partitions may now be elsewhere. kafkajs rejoins when the error leaves eachBatch;
            // whoever owns them next re-delivers from the last commit, and versions make that safe.
            const generationOver = lostGeneration(error);
            if (generationOver) throw generationOver;
            const cdc = error instanceof CdcError ? error : new CdcError('INTERNAL', errorMessage(error), { cause: error });
            this.#lastError = cdc;
            if (!cdc.retriable || !active()) {
              // A consumer being replaced (topic refresh) or stopped fails its last commit: not fatal.
              if (!cdc.retriable && active()) this.#fatal ??= cdc;
              throw cdc;
            }
            const delay = backoffDelay(DEFAULT_RETRY, Math.min(attempt, 8));
            this.metrics.batchRetries.inc({ code: cdc.code });
            this.#log.warn({ ...errorFields(cdc), topic: batch.topic, partition: batch.partition, retryInMs: delay }, 'batch failed; retrying');
            for (const until = Date.now() + delay; Date.now() < until && active(); ) {
              await sleep(Math.min(1000, until - Date.now()));
              await heartbeat();
            }
          }
        }
      },
    });
    if (this.#pausedBy) consumer.pause([...topics].map((topic) => ({ topic })));
  }

  /**
   * Processes `batch` from `progress.next` in chunks, committing after each durable chunk. Commits
   * go through the consumer that delivered the batch: a topic refresh may already have replaced it.
   */
  async #processBatch(consumer: Consumer, batch: Batch, progress: { next: number }, resolveOffset: (offset: string) => void, heartbeat: () => Promise<void>, active: () => boolean): Promise<void> {
    const { topic, partition } = batch;
    const chunkSize = this.#config.BULK_MAX_ACTIONS;
    while (progress.next < batch.messages.length && active()) {
      const messages = batch.messages.slice(progress.next, progress.next + chunkSize);
      this.#chunkSince ??= Date.now();
      const letters: DeadLetter[] = [];
      const actions: BulkAction<KafkaMessage>[] = [];
      for (const message of messages) {
        const actionsOfMessage = await this.#actionsFor(topic, message).catch((error: unknown) => {
          const cdc = error instanceof CdcError ? error : new CdcError('INTERNAL', errorMessage(error), { cause: error });
          if (cdc.retriable || isServiceError(cdc)) throw cdc;
          letters.push(this.#letter(topic, partition, message, cdc));
          return [];
        });
        actions.push(...actionsOfMessage);
      }
      const started = process.hrtime.bigint();
      const collapsed = collapseById(actions);
      this.metrics.outcomes.inc({ outcome: 'collapsed' }, actions.length - collapsed.length);
      const stats = await this.#writer.write(collapsed, { heartbeat, signal: this.#stop.signal });
      this.metrics.bulkSeconds.observe(Number(process.hrtime.bigint() - started) / 1e9);
      this.metrics.outcomes.inc({ outcome: 'ok' }, stats.ok);
      this.metrics.outcomes.inc({ outcome: 'stale' }, stats.stale);
      this.metrics.outcomes.inc({ outcome: 'retried' }, stats.retried);
      for (const rejection of stats.rejected) letters.push(this.#letter(topic, partition, rejection.action.origin, rejection.error));
      await this.#deadLetter(letters);
      this.metrics.batchSize.observe(messages.length);
      const last = messages.at(-1)!.offset;
      resolveOffset(last);
      const next = (BigInt(last) + 1n).toString();
      await consumer.commitOffsets([{ topic, partition, offset: next }]).catch((error: unknown) => {
        throw kafkaError(error, `committing offset ${next} of ${topic}/${partition}`);
      });
      this.#chunkSince = undefined;
      this.#lastProgressAt = Date.now();
      this.metrics.records.inc({ topic }, messages.length);
      this.metrics.bytes.inc(
        { topic },
        messages.reduce((sum, m) => sum + (m.key?.length ?? 0) + (m.value?.length ?? 0), 0),
      );
      this.metrics.lagSeconds.set({ topic }, Math.max(0, (Date.now() - Number(messages.at(-1)!.timestamp)) / 1000));
      this.#counts.set(topic, (this.#counts.get(topic) ?? 0) + messages.length);
      this.#positions.set(`${topic}/${partition}`, next);
      this.metrics.lagRecords.set({ topic, partition: String(partition) }, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(next))));
      progress.next += messages.length;
      await heartbeat();
    }
  }

  /** The document actions of one record (none for a tombstone or a skipped keyless change). */
  async #actionsFor(topic: string, message: KafkaMessage): Promise<BulkAction<KafkaMessage>[]> {
    const change = await this.#decoder.decode(message);
    if (!change) {
      this.metrics.skipped.inc({ reason: 'tombstone' });
      return [];
    }
    if (!change.key && this.#config.KEYLESS_TABLES === 'skip') {
      this.metrics.skipped.inc({ reason: 'keyless' });
      return [];
    }
    const event = this.#transform(changeEvent(change, topic));
    if (!event) {
      this.metrics.skipped.inc({ reason: 'filtered' });
      return [];
    }
    const index = indexName(event.index ?? this.#config.INDEX_NAME_TEMPLATE, { topic: event.topic ?? topic, prefix: this.#config.TOPIC_PREFIX, database: change.database, table: change.table });
    await this.#indices.ensure(index, event.schema);
    const version = versionOf(change.position);
    if (change.key) return [{ index, id: documentId(change.key), version, document: this.#document(change, event), origin: message }];
    // Keyless: the row's content is its identity. An update removes the old content's document
    // and indexes the new one, both under the change's version, so replays stay idempotent.
    const removed = event.before && rowDocumentId(event.before);
    const added = event.after && rowDocumentId(event.after);
    const actions: BulkAction<KafkaMessage>[] = [];
    if (removed && removed !== added) actions.push({ index, id: removed, version, document: this.#document({ ...change, op: 'd' }, event), origin: message });
    if (added) actions.push({ index, id: added, version, document: this.#document(change, event), origin: message });
    return actions;
  }

  /**
   * The document text of a change (its row images as the transforms left them); null deletes. In
   * soft delete mode a delete is the row's last image marked `__deleted: true`, indexed under the
   * delete's version like any other change.
   */
  #document(change: DecodedChange, event: ChangeEvent): string | null {
    const deleted = change.op === 'd';
    if (deleted && this.#config.DELETE_MODE === 'hard') return null;
    const metadata = this.#config.DOCUMENT_METADATA ? metadataOf(change, this.#config.DOCUMENT_METADATA, this.#config.DOCUMENT_METADATA_PREFIX) : {};
    const flag = this.#config.DELETE_MODE === 'soft' ? { __deleted: deleted } : {};
    return documentJson({ ...documentRow(event.schema, (deleted ? event.before : event.after) ?? {}), ...flag, ...metadata });
  }

  #letter(topic: string, partition: number, message: KafkaMessage, error: CdcError): DeadLetter {
    return { topic, partition, offset: message.offset, key: message.key, value: message.value, headers: message.headers, error };
  }

  /**
   * With ERRORS_TOLERANCE=all the records go to the dead-letter topic (durably, before their
   * offsets are committed); with `none` the first one stops the sink with its coordinates.
   */
  async #deadLetter(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    if (this.#config.ERRORS_TOLERANCE === 'none') {
      const [first] = letters;
      throw new CdcError(first!.error.code, `${first!.error.message} (record ${first!.topic}/${first!.partition}@${first!.offset}; ERRORS_TOLERANCE=none)`, {
        cause: first!.error,
        hint: first!.error.hint ?? 'Fix the record or set ERRORS_TOLERANCE=all to route such records to the dead-letter topic.',
      });
    }
    await this.#dlq.send(letters);
    for (const letter of letters) {
      this.metrics.deadLetters.inc({ code: letter.error.code });
      this.#log.warn({ ...errorFields(letter.error), topic: letter.topic, partition: letter.partition, offset: letter.offset, dlq: this.#dlq.topic }, 'record sent to the dead-letter topic');
    }
  }

  async #closeConsumer(): Promise<void> {
    const consumer = this.#consumer;
    this.#consumer = undefined;
    this.#subscribed = new Set();
    this.#joined = false;
    this.#chunkSince = undefined;
    await consumer?.disconnect().catch(() => undefined);
    await this.#dlq.close();
  }

  healthy(): boolean {
    return this.#state !== 'failed';
  }

  /**
   * Stops fetching (the batch in hand is finished and committed) without leaving the consumer
   * group, so no rebalance moves the partitions elsewhere. Returns false when already paused.
   */
  pause(reason: string): boolean {
    if (this.#pausedBy) return false;
    this.#pausedBy = reason;
    this.#consumer?.pause([...this.#subscribed].map((topic) => ({ topic })));
    this.metrics.paused.set(1);
    this.#log.warn({ reason }, 'sink paused: not consuming until resumed');
    return true;
  }

  resume(): boolean {
    if (!this.#pausedBy) return false;
    this.#pausedBy = undefined;
    this.#consumer?.resume([...this.#subscribed].map((topic) => ({ topic })));
    this.metrics.paused.set(0);
    this.#log.info('sink resumed');
    return true;
  }

  ready(): Readiness {
    const stall = this.#config.READY_STALL_SECONDS;
    const chunkIdle = secondsSince(this.#chunkSince) ?? 0;
    const failing = secondsSince(this.#writer.failingSince) ?? 0;
    return readiness(
      this.#state,
      [
        this.#state !== 'running' && (this.#lastError ? this.#lastError.describe() : `the sink is ${this.#state}`),
        this.#state === 'running' && this.#subscribed.size > 0 && !this.#joined && 'the consumer has not joined its group yet',
        this.#pausedBy !== undefined && `paused: ${this.#pausedBy}`,
        this.#elasticsearchProblem !== undefined && `Elasticsearch does not answer its health check: ${this.#elasticsearchProblem}`,
        failing > stall && `bulk requests keep failing for ${failing} s: ${this.#writer.lastFailure?.message ?? ''}`,
        chunkIdle > stall && `a batch has waited ${chunkIdle} s to become durable (READY_STALL_SECONDS=${stall})`,
      ],
      {
        paused: this.#pausedBy ?? false,
        joined: this.#joined,
        elasticsearch: this.#elasticsearchProblem ?? 'ok',
        secondsSinceProgress: secondsSince(this.#lastProgressAt || undefined),
        secondsInCurrentBatch: secondsSince(this.#chunkSince),
        bulkFailingSeconds: secondsSince(this.#writer.failingSince),
        lastError: this.#lastError?.code ?? null,
      },
    );
  }

  status(): unknown {
    return {
      service: 'sink',
      version: VERSION,
      state: this.#state,
      paused: this.#pausedBy ?? false,
      group: this.#config.SINK_GROUP_ID,
      topics: [...this.#subscribed],
      committed: Object.fromEntries(this.#positions),
      records: Object.fromEntries(this.#counts),
      lastError: this.#lastError ? { code: this.#lastError.code, message: this.#lastError.message, hint: this.#lastError.hint } : null,
      config: redactConfig(sinkSpec, this.#config),
    };
  }
}

/** A decoded change as the typed event the transforms take; its topic is the record's. */
function changeEvent(change: DecodedChange, topic: string): ChangeEvent {
  return {
    op: change.op,
    schema: change.schema,
    before: change.before as Row | null,
    after: change.after as Row | null,
    position: change.position,
    gtid: change.gtid ?? undefined,
    tsMs: Number(change.tsMs),
    snapshot: change.snapshot,
    serverId: change.serverId,
    topic,
  };
}

function sameSet(a: Set<string>, b: Set<string>): boolean {
  return a.size === b.size && [...a].every((x) => b.has(x));
}
