import type { Kafka, Message, Producer, TopicMessages } from 'kafkajs';
import { CdcError, errorMessage } from '../core/errors.ts';
import { createTopics, isFencedError, kafkaError, listTopics, needsNewProducer } from '../core/kafka.ts';
import { compressionType } from '../core/kafka-codecs.ts';
import type { KafkaCompression } from '../core/kafka-compressions.ts';
import type { SourcePosition } from '../core/position.ts';
import { raiseMessageLimits } from '../core/topic-limits.ts';
import { maxMessageBytesConfig } from '../core/topics.ts';
import type { EncodedRecord } from './encoded-record.ts';
import { encodeOffset, type ServerIdentity } from '../core/source-offsets.ts';
import type { SourceResumeState as ResumeState } from './offset-store.ts';
import { RECORD_OVERHEAD_BYTES } from './oversize-policy.ts';
import type { ProgressSeal } from './progress-seal.ts';
import type { TopicPartition } from './hanging-transaction.ts';

/**
 * Bytes of records per produce call, below the broker's default message.max.bytes (1 MiB). kafkajs
 * keeps one produce request in flight for an idempotent producer, so a transaction's slices go
 * one round trip after another: a 20,000-row transaction took about 40 of them at 128 KiB, 60–80
 * ms. Produce requests are written once at their final size (kafkajs-produce-encoding.ts), so a
 * larger one costs no more per record (docs/performance.md, sixth session of 2026-12-06).
 */
const SEND_SLICE_BYTES = 512 * 1024;

/** Bytes of records per produce call to topics whose records may have up to `maxMessageBytes` (TOPIC_MAX_MESSAGE_BYTES). */
export function sendSliceBytes(maxMessageBytes: number): number {
  return Math.min(SEND_SLICE_BYTES, maxMessageBytes - RECORD_OVERHEAD_BYTES);
}

/**
 * Splits per-topic messages into groups of at most `maxBytes` (a single larger record goes alone).
 * This and groupByTopic() run once per Kafka transaction over all of its records: code run that
 * rarely stays unoptimised, where a for-of loop allocates an iterator result per element (a
 * twentieth of the source's allocations), so they index their arrays.
 */
export function slices(topics: TopicMessages[], maxBytes: number): TopicMessages[][] {
  const out: TopicMessages[][] = [];
  let current: TopicMessages[] = [];
  let bytes = 0;
  for (let t = 0; t < topics.length; t++) {
    const { topic, messages } = topics[t]!;
    let entry: TopicMessages | undefined;
    for (let m = 0; m < messages.length; m++) {
      const message = messages[m]!;
      const size = (message.key?.length ?? 0) + (message.value?.length ?? 0) + 64;
      if (bytes > 0 && bytes + size > maxBytes) {
        out.push(current);
        current = [];
        bytes = 0;
        entry = undefined;
      }
      if (!entry) {
        entry = { topic, messages: [] };
        current.push(entry);
      }
      entry.messages.push(message);
      bytes += size;
    }
  }
  if (current.length > 0) out.push(current);
  return out;
}

/** Messages grouped per topic, in the order given (a message names its own topic; kafkajs reads only its message fields). */
function groupByTopic(messages: ReadonlyArray<Message & { topic: string }>): Map<string, TopicMessages> {
  const byTopic = new Map<string, TopicMessages>();
  for (let i = 0; i < messages.length; i++) {
    const message = messages[i]!;
    let entry = byTopic.get(message.topic);
    if (!entry) {
      entry = { topic: message.topic, messages: [] };
      byTopic.set(message.topic, entry);
    }
    entry.messages.push(message);
  }
  return byTopic;
}

export interface WriterSettings {
  /** false: a plain idempotent producer, events then position (at-least-once; see README). */
  exactlyOnce: boolean;
  sourceId: string;
  offsetsTopic: string;
  partitions: number;
  replicationFactor: number;
  /** TOPIC_MAX_MESSAGE_BYTES: max.message.bytes of the topics this writes to, and the bound of one produce slice. */
  maxMessageBytes: number;
  /** Codec of the record batches (the offsets topic included). */
  compression: KafkaCompression;
  /** Encrypts the key values of stored snapshot progress (with COLUMN_HASH). */
  seal?: ProgressSeal | undefined;
  /** The server the positions are read from, stored with each of them: a restart compares it with the server's. */
  server?: ServerIdentity | undefined;
}

/**
 * Writes change records and the new source position in one Kafka transaction, so a reader with
 * read_committed sees either both or neither: the position in Kafka never runs ahead of the
 * events, and events never exist without the position that says they were written.
 */
export class TransactionalWriter {
  readonly #kafka: Kafka;
  readonly #settings: WriterSettings;
  readonly #producer: Producer;
  /** Topics known to exist (true), or their creation under way. */
  readonly #topics = new Map<string, true | Promise<void>>();
  /** Bytes of records per produce call: SEND_SLICE_BYTES, or less where topics take less. */
  readonly #sliceBytes: number;

  constructor(kafka: Kafka, settings: WriterSettings) {
    this.#kafka = kafka;
    this.#settings = settings;
    this.#sliceBytes = sendSliceBytes(settings.maxMessageBytes);
    this.#producer = kafka.producer({
      ...(settings.exactlyOnce ? { transactionalId: settings.sourceId } : {}),
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: 60_000,
      // Right after a commit the broker answers the next transaction's first request with
      // CONCURRENT_TRANSACTIONS; a short first back-off keeps small transactions fast.
      retry: { initialRetryTime: 5, retries: 14, maxRetryTime: 5_000 },
    });
  }

  /**
   * Connects and fences every older producer with this SOURCE_ID. kafkajs sends InitProducerId
   * lazily, at the first transaction, so one is begun and aborted here — before the stored
   * position is read, so no older instance can commit after we read it.
   */
  async connect(): Promise<void> {
    try {
      await this.#producer.connect();
      if (!this.#settings.exactlyOnce) return;
      const transaction = await this.#producer.transaction();
      await transaction.abort();
    } catch (error) {
      throw this.#classify(error, 'fencing older instances');
    }
  }

  /**
   * One transaction with an empty record (a tombstone of a key no reader uses) on each of
   * `partitions`, aborted: its ABORT markers end whatever this producer id left pending there
   * (hanging-transaction.ts). Returns the offset each record took, per partition.
   */
  async abortWith(partitions: TopicPartition[]): Promise<Map<number, bigint>> {
    const key = `${this.#settings.sourceId}.pending-check`;
    const byTopic = groupByTopic(partitions.map(({ topic, partition }) => ({ topic, partition, key, value: null })));
    let transaction: Awaited<ReturnType<Producer['transaction']>> | undefined;
    try {
      transaction = await this.#producer.transaction();
      const sent = await transaction.sendBatch({ topicMessages: [...byTopic.values()] });
      await transaction.abort();
      return new Map(sent.map((r) => [r.partition, BigInt(r.baseOffset ?? r.offset ?? '0')]));
    } catch (error) {
      if (transaction?.isActive()) await transaction.abort().catch(() => undefined);
      throw this.#classify(error, 'aborting what an earlier transaction left pending');
    }
  }

  /**
   * Creates the topics not yet known to exist (or raises their message limit). Safe to call again
   * while an earlier call is under way: a topic being created is awaited, not created twice (the
   * snapshot creates a batch's topics while their schemas are registered, and meanwhile the
   * previous batch may still be committing).
   */
  async ensureTopics(topics: Iterable<string>): Promise<void> {
    const waits: Array<Promise<void>> = [];
    const missing: string[] = [];
    for (const topic of topics) {
      const pending = this.#topics.get(topic);
      if (pending === true) continue;
      if (pending) waits.push(pending);
      else if (!missing.includes(topic)) missing.push(topic);
    }
    if (missing.length > 0) {
      const creating = this.#createTopics(missing);
      for (const topic of missing) this.#topics.set(topic, creating);
      creating.then(
        () => {
          for (const topic of missing) this.#topics.set(topic, true);
        },
        // A failed creation is tried again by the next call.
        () => {
          for (const topic of missing) this.#topics.delete(topic);
        },
      );
      waits.push(creating);
    }
    await Promise.all(waits);
  }

  async #createTopics(missing: string[]): Promise<void> {
    const admin = this.#kafka.admin();
    try {
      await admin.connect();
      const existing = new Set(await listTopics(admin));
      const create = missing.filter((t) => !existing.has(t));
      if (create.length > 0) {
        await createTopics(admin, {
          waitForLeaders: true,
          topics: create.map((topic) => ({
            topic,
            numPartitions: this.#settings.partitions,
            replicationFactor: this.#settings.replicationFactor,
            configEntries: maxMessageBytesConfig(this.#settings.maxMessageBytes),
          })),
        });
      }
      // Records up to the limit are admitted before producing (oversize-policy.ts): existing topics must take them too.
      await raiseMessageLimits(
        admin,
        missing.filter((t) => existing.has(t)),
        this.#settings.maxMessageBytes,
      );
    } catch (error) {
      throw kafkaError(error, `creating topics ${missing.join(', ')}`);
    } finally {
      await admin.disconnect();
    }
  }

  /** Commits `records` and `position` (with unfinished snapshot progress) atomically. On failure the transaction is aborted. */
  async commit(records: EncodedRecord[], position: SourcePosition, state?: ResumeState): Promise<void> {
    // The record is the message: kafkajs reads its key and value.
    const byTopic = groupByTopic(records);
    byTopic.set(this.#settings.offsetsTopic, {
      topic: this.#settings.offsetsTopic,
      messages: [{ key: this.#settings.sourceId, value: encodeOffset(position, this.#settings.seal?.seal(state) ?? state, this.#settings.server) }],
    });
    if (!this.#settings.exactlyOnce) return this.#sendAtLeastOnce([...byTopic.values()]);
    let transaction: Awaited<ReturnType<Producer['transaction']>> | undefined;
    try {
      transaction = await this.#producer.transaction();
      // kafkajs puts a send's records for one partition into one record batch, which the broker
      // refuses above message.max.bytes (1 MiB by default): send in slices below that.
      for (const topicMessages of slices([...byTopic.values()], this.#sliceBytes)) {
        await transaction.sendBatch({ topicMessages, compression: compressionType(this.#settings.compression) });
      }
      await transaction.commit();
    } catch (error) {
      if (transaction?.isActive()) await transaction.abort().catch(() => undefined);
      throw this.#classify(error, 'committing a transaction');
    }
  }

  /**
   * Without transactions: events first, the position (the last group) only after they are
   * acknowledged, so a crash can repeat events but never skip them.
   */
  async #sendAtLeastOnce(topics: TopicMessages[]): Promise<void> {
    const events = topics.filter((t) => t.topic !== this.#settings.offsetsTopic);
    const position = topics.filter((t) => t.topic === this.#settings.offsetsTopic);
    try {
      for (const topicMessages of slices(events, this.#sliceBytes)) await this.#producer.sendBatch({ topicMessages, acks: -1, compression: compressionType(this.#settings.compression) });
      await this.#producer.sendBatch({ topicMessages: position, acks: -1, compression: compressionType(this.#settings.compression) });
    } catch (error) {
      throw this.#classify(error, 'sending records');
    }
  }

  async close(): Promise<void> {
    await this.#producer.disconnect().catch(() => undefined);
  }

  #classify(error: unknown, what: string): CdcError {
    if (isFencedError(error)) {
      return new CdcError('SOURCE_FENCED', `Another source instance with SOURCE_ID ${this.#settings.sourceId} took over while ${what}`, {
        cause: error,
        hint: 'Run one instance per SOURCE_ID. This instance stopped without writing anything more.',
      });
    }
    // Not fenced, but this producer cannot go on and the outcome may be unknown: restarting from the
    // committed position with a new producer is exactly-once either way; stopping for good is not needed.
    if (needsNewProducer(error)) {
      return new CdcError('KAFKA_TRANSACTION_UNRESOLVED', `Kafka ${what} failed: ${errorMessage(error)}; restarting with a new producer from the committed position`, {
        cause: error,
        retriable: true,
        hint: 'Nothing to do if it passes. Run one instance per SOURCE_ID: a restart after this fences any other instance with the same SOURCE_ID.',
      });
    }
    return kafkaError(error, what);
  }
}
