import type { ChangeEvent } from '../core/change-event.ts';
import type { EncodedRecord } from './encoded-record.ts';
import type { EventEncoder } from './event-encoder.ts';
import type { TransactionalWriter } from './kafka-writer.ts';
import type { ChunkRows } from './snapshot.ts';

/**
 * A snapshot chunk's rows turned into Kafka records as they are read: each row is transformed
 * and encoded on arrival, so a chunk holds its records' bytes, not row objects that would live
 * through the whole read and be promoted, only for the old generation's collections to free them.
 * From the first row whose table encoding is not resolved yet (a table's first chunk, or a schema
 * a transform derives), the chunk's rows wait as changes until encodeBatch(), which registers the
 * schema, creates the topic and encodes them then: records stay in read order, so the snapshot's
 * `last` record is its last.
 */
export class EncodedChunk implements ChunkRows {
  readonly records: EncodedRecord[] = [];
  /** Every topic of the records (a few, at most one per table of the chunk). */
  readonly topics = new Set<string>();
  readonly #waiting: ChangeEvent[] = [];
  readonly #transform: (event: ChangeEvent) => ChangeEvent | null;
  readonly #encoder: EventEncoder;
  #lastTopic = '';

  constructor(transform: (event: ChangeEvent) => ChangeEvent | null, encoder: EventEncoder) {
    this.#transform = transform;
    this.#encoder = encoder;
  }

  add(event: ChangeEvent): void {
    const change = this.#transform(event);
    if (change && (this.#waiting.length > 0 || !this.#encoder.encodeIfPrepared(change, false, this.#push))) this.#waiting.push(change);
  }

  readonly #push = (record: EncodedRecord): void => {
    this.records.push(record);
    // One comparison a record: a table's records share its topic's string.
    if (record.topic !== this.#lastTopic) {
      this.#lastTopic = record.topic;
      this.topics.add(record.topic);
    }
  };

  /** The changes still waiting for their table's encoding. */
  get waiting(): readonly ChangeEvent[] {
    return this.#waiting;
  }

  /** Encodes the waiting changes, once encodeBatch() prepared their tables. */
  encodeWaiting(): void {
    for (let i = 0; i < this.#waiting.length; i++) this.#encoder.encodeChange(this.#waiting[i]!, false, this.#push);
    this.#waiting.length = 0;
  }
}

/**
 * The records of one snapshot batch (its chunks in order), once the schemas of the changes still
 * waiting are registered, `concurrency` at a time, and every topic exists: many small tables wait
 * for the registry once per batch, and their topics are created in one request.
 */
export async function encodeBatch(chunks: readonly EncodedChunk[], encoder: EventEncoder, writer: Pick<TransactionalWriter, 'ensureTopics'>, concurrency: number): Promise<EncodedRecord[]> {
  const topics = new Set<string>();
  for (const chunk of chunks) {
    for (const topic of chunk.topics) topics.add(topic);
    for (const change of chunk.waiting) topics.add(encoder.topicOfEvent(change));
  }
  await Promise.all([encoder.prepareAll(waitingOf(chunks), concurrency), writer.ensureTopics(topics)]);
  for (const chunk of chunks) chunk.encodeWaiting();
  if (chunks.length === 1) return chunks[0]!.records;
  const records: EncodedRecord[] = [];
  for (const chunk of chunks) for (let i = 0; i < chunk.records.length; i++) records.push(chunk.records[i]!);
  return records;
}

function* waitingOf(chunks: readonly EncodedChunk[]): Generator<ChangeEvent> {
  for (const chunk of chunks) yield* chunk.waiting;
}
