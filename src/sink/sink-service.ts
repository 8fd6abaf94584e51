import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from '@elastic/elasticsearch';
import type { Batch, Consumer, Kafka, KafkaMessage } from 'kafkajs';
import { CdcError, errorMessage } from '../core/errors.ts';
import { createKafka, kafkaError } from '../core/kafka.ts';
import { errorFields, type Logger } from '../core/logger.ts';
import { backoffDelay, DEFAULT_RETRY } from '../core/retry.ts';
import { Registry } from '../core/schema-registry.ts';
import { versionOf } from '../core/version.ts';
import { redactConfig } from '../config/env.ts';
import { sinkSpec, sinkTopicPatterns, type SinkConfig } from '../config/sink.ts';
import type { Probe } from '../http/server.ts';
import { VERSION } from '../version.ts';
import { BulkWriter, collapseById, type BulkAction } from './bulk-writer.ts';
import { ChangeDecoder, type DecodedChange } from './change-decoder.ts';
import { DeadLetterQueue, type DeadLetter } from './dead-letter-queue.ts';
import { documentId, documentJson } from './document.ts';
import { metadataMappings, metadataOf } from './document-metadata.ts';
import { IndexManager } from './index-manager.ts';
import { indexName } from './index-naming.ts';
import { createSinkMetrics, type SinkMetrics } from './sink-metrics.ts';
import type { ChangeEvent, Row } from '../core/change-event.ts';
import { buildTransforms } from '../transforms/catalog.ts';
import { chain, type Transform } from '../transforms/transform.ts';

export function elasticsearchClient(config: SinkConfig): Client {
  const auth = config.ELASTICSEARCH_API_KEY
    ? { apiKey: config.ELASTICSEARCH_API_KEY }
    : config.ELASTICSEARCH_USERNAME
      ? { username: config.ELASTICSEARCH_USERNAME, password: config.ELASTICSEARCH_PASSWORD ?? '' }
      : undefined;
  return new Client({ node: config.ELASTICSEARCH_URL, ...(auth ? { auth } : {}), requestTimeout: 60_000, maxRetries: 0 });
}

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

  constructor(config: SinkConfig, log: Logger) {
    this.#config = config;
    this.#log = log;
    this.#kafka = createKafka({ brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID }, log);
    this.#es = elasticsearchClient(config);
    this.#decoder = new ChangeDecoder(new Registry({ url: config.SCHEMA_REGISTRY_URL, username: config.SCHEMA_REGISTRY_USERNAME, password: config.SCHEMA_REGISTRY_PASSWORD }));
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
    for (let attempt = 0; !signal.aborted; ) {
      try {
        const topics = await this.#matchingTopics();
        if (!sameSet(topics, this.#subscribed) || !this.#consumer) {
          await this.#closeConsumer();
          if (topics.size > 0) await this.#startConsumer(topics);
          else this.#log.info({ patterns: this.#topicPatterns.map(String) }, 'no matching topics yet; waiting');
        }
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
        const delay = backoffDelay(DEFAULT_RETRY, Math.min(attempt++, 8));
        this.#log.warn({ ...errorFields(cdc), retryInMs: delay }, 'sink failed; restarting from the committed offsets');
        await sleep(delay, undefined, { signal }).catch(() => undefined);
      }
    }
    await this.#closeConsumer();
    this.#state = 'stopped';
  }

  async stop(): Promise<void> {
    this.#stop.abort();
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
    this.#log.info({ topics: [...topics], group: this.#config.SINK_GROUP_ID }, 'consuming');
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
            const cdc = error instanceof CdcError ? error : new CdcError('INTERNAL', errorMessage(error), { cause: error });
            this.#lastError = cdc;
            if (!cdc.retriable || !active()) {
              // A consumer being replaced (topic refresh) or stopped fails its last commit: not fatal.
              if (!cdc.retriable && active()) this.#fatal ??= cdc;
              throw cdc;
            }
            const delay = backoffDelay(DEFAULT_RETRY, Math.min(attempt, 8));
            this.#log.warn({ ...errorFields(cdc), topic: batch.topic, partition: batch.partition, retryInMs: delay }, 'batch failed; retrying');
            for (const until = Date.now() + delay; Date.now() < until && active(); ) {
              await sleep(Math.min(1000, until - Date.now()));
              await heartbeat();
            }
          }
        }
      },
    });
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
      const letters: DeadLetter[] = [];
      const actions: BulkAction<KafkaMessage>[] = [];
      for (const message of messages) {
        const action = await this.#actionFor(topic, message).catch((error: unknown) => {
          const cdc = error instanceof CdcError ? error : new CdcError('INTERNAL', errorMessage(error), { cause: error });
          if (cdc.retriable) throw cdc;
          letters.push(this.#letter(topic, partition, message, cdc));
          return null;
        });
        if (action) actions.push(action);
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
      this.metrics.records.inc({ topic }, messages.length);
      this.#counts.set(topic, (this.#counts.get(topic) ?? 0) + messages.length);
      this.#positions.set(`${topic}/${partition}`, next);
      this.metrics.lagRecords.set({ topic, partition: String(partition) }, Math.max(0, Number(BigInt(batch.highWatermark) - BigInt(next))));
      progress.next += messages.length;
      await heartbeat();
    }
  }

  /** The document action of one record, or null when there is nothing to index. */
  async #actionFor(topic: string, message: KafkaMessage): Promise<BulkAction<KafkaMessage> | null> {
    const change = await this.#decoder.decode(message);
    if (!change) {
      this.metrics.skipped.inc({ reason: 'tombstone' });
      return null;
    }
    if (!change.key) {
      this.metrics.skipped.inc({ reason: 'keyless' });
      this.#log.warn({ topic, offset: message.offset }, 'change of a table without a primary key skipped: keyless tables are not indexed yet');
      return null;
    }
    const event = this.#transform(changeEvent(change, topic));
    if (!event) {
      this.metrics.skipped.inc({ reason: 'filtered' });
      return null;
    }
    const index = indexName(event.index ?? this.#config.INDEX_NAME_TEMPLATE, { topic: event.topic ?? topic, prefix: this.#config.TOPIC_PREFIX, database: change.database, table: change.table });
    await this.#indices.ensure(index, event.schema);
    return { index, id: documentId(change.key), version: versionOf(change.position), document: this.#document(change, event), origin: message };
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
    return documentJson({ ...((deleted ? event.before : event.after) ?? {}), ...flag, ...metadata });
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
    await consumer?.disconnect().catch(() => undefined);
    await this.#dlq.close();
  }

  healthy(): boolean {
    return this.#state !== 'failed';
  }

  ready(): { ready: boolean; reason?: string } {
    if (this.#state === 'running' && (this.#joined || this.#subscribed.size === 0)) return { ready: true };
    return { ready: false, reason: this.#lastError ? this.#lastError.describe() : this.#state };
  }

  status(): unknown {
    return {
      service: 'sink',
      version: VERSION,
      state: this.#state,
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
