import type { IHeaders } from 'kafkajs';
import { type ChangeEvent, keyOf } from '../core/change-event.ts';
import { errorHeaders } from '../core/dead-letter-headers.ts';
import { CdcError } from '../core/errors.ts';
import { exactJson } from '../core/exact-json.ts';
import { deadLetterTopic } from '../core/topics.ts';
import type { SourceConfig } from '../config/source.ts';
import type { EncodedRecord } from './encoded-record.ts';

/**
 * What a record adds to its key and value inside the record batch the broker measures against
 * max.message.bytes: the batch header (61 bytes) and the record's own framing (length, attributes,
 * timestamp and offset deltas, key and value lengths, header count), with room to spare.
 */
export const RECORD_OVERHEAD_BYTES = 128;

export interface OversizeSettings {
  /** TOPIC_MAX_MESSAGE_BYTES: the max.message.bytes the source's topics have (kafka-writer.ts makes sure of it). */
  maxMessageBytes: number;
  mode: 'fail' | 'dead-letter';
  deadLetterTopic: string;
}

/** `without_before`: written without its before image; `dead_lettered`: only its dead letter was written. */
export type OversizeOutcome = 'without_before' | 'dead_lettered';

/** A dead letter is a record with context headers; kafkajs reads `headers` off the message. */
export type DeadLetterRecord = EncodedRecord & { headers: IHeaders };

/**
 * Decides, before anything is produced, what happens to a change whose record the broker would
 * refuse: a refusal inside a Kafka transaction would abort it and, replayed at every restart, stop
 * the source for good with nothing that says which row or what to change. `fail` throws
 * RECORD_TOO_LARGE (the transaction is never begun); `dead-letter` replaces the record with a small
 * letter that names it (key, position, sizes; no row content), written in the same transaction.
 */
export class OversizePolicy {
  readonly #settings: OversizeSettings;
  readonly #onOversize: (table: string, outcome: OversizeOutcome) => void;
  /** The most key and value bytes a record may have. */
  readonly maxRecordBytes: number;

  constructor(settings: OversizeSettings, onOversize: (table: string, outcome: OversizeOutcome) => void) {
    this.#settings = settings;
    this.#onOversize = onOversize;
    this.maxRecordBytes = settings.maxMessageBytes - RECORD_OVERHEAD_BYTES;
  }

  /**
   * `record` if it fits; throws RECORD_TOO_LARGE under `fail`. Under `dead-letter` an update or
   * delete first goes without its `before` image (`withoutBefore` encodes it so) when that fits:
   * the sink needs only the key and the `after` image, so the index stays right, and a delete never
   * leaves the deleted row's document behind. Otherwise the record's dead letter replaces it.
   */
  admit(record: EncodedRecord, event: ChangeEvent, withoutBefore: () => EncodedRecord): EncodedRecord {
    if (record.bytes <= this.maxRecordBytes) return record;
    const error = tooLarge(record, event, this.#settings.maxMessageBytes);
    if (this.#settings.mode === 'fail') throw error;
    const table = `${event.schema.database}.${event.schema.table}`;
    if (event.before && !event.flat) {
      const slim = withoutBefore();
      if (slim.bytes <= this.maxRecordBytes) {
        this.#onOversize(table, 'without_before');
        return slim;
      }
    }
    this.#onOversize(table, 'dead_lettered');
    return deadLetter(record, event, error, this.#settings.deadLetterTopic);
  }
}

/** The policy a source configuration asks for (the live source and `cdc replay` alike). */
export function oversizePolicyOf(
  config: Pick<SourceConfig, 'TOPIC_MAX_MESSAGE_BYTES' | 'OVERSIZE_RECORDS' | 'TOPIC_PREFIX' | 'DLQ_TOPIC'>,
  onOversize: (table: string, outcome: OversizeOutcome) => void,
): OversizePolicy {
  return new OversizePolicy({ maxMessageBytes: config.TOPIC_MAX_MESSAGE_BYTES, mode: config.OVERSIZE_RECORDS, deadLetterTopic: deadLetterTopic(config.TOPIC_PREFIX, config.DLQ_TOPIC) }, onOversize);
}

function tooLarge(record: EncodedRecord, event: ChangeEvent, limit: number): CdcError {
  const table = `${event.schema.database}.${event.schema.table}`;
  const key = event.schema.key.length > 0 ? exactJson(keyOf(event)) : 'none (keyless table)';
  const position = `${event.position.file}:${event.position.pos}#${event.position.row}${event.gtid ? ` (GTID ${event.gtid})` : ''}`;
  const bytes = record.bytes + RECORD_OVERHEAD_BYTES;
  return new CdcError(
    'RECORD_TOO_LARGE',
    `The ${event.op} change of ${table} with key ${key} at ${position} encodes to ${bytes} bytes, above the ${limit} bytes its topic ${record.topic} takes (TOPIC_MAX_MESSAGE_BYTES)`,
    {
      hint: 'Raise TOPIC_MAX_MESSAGE_BYTES (the source raises max.message.bytes of its topics to it; the sink needs ELASTICSEARCH_MAX_REQUEST_BYTES above the document) and restart: the source resumes at this change. Or set OVERSIZE_RECORDS=dead-letter to record such changes in DLQ_TOPIC and go on, or drop or cut the column (COLUMN_EXCLUDE, COLUMN_TRUNCATE).',
      details: { table, key, position: event.position.toJSON(), gtid: event.gtid, topic: record.topic, bytes, limit, reason: `${bytes} bytes > ${limit}` },
    },
  );
}

/**
 * The letter: the record's own key (so it can be decoded as the topic's key), and as value a JSON
 * description of the change without its row images; the `__connect.errors.*` headers of the sink's
 * letters name the topic it was meant for (no partition or offset: it never was in Kafka).
 */
function deadLetter(record: EncodedRecord, event: ChangeEvent, error: CdcError, topic: string): DeadLetterRecord {
  const { table, position, gtid, bytes, limit } = error.details!;
  const value = Buffer.from(
    exactJson({
      code: error.code,
      topic: record.topic,
      table,
      op: event.op,
      key: event.schema.key.length > 0 ? keyOf(event) : null,
      position,
      gtid: gtid ?? null,
      ts_ms: event.tsMs,
      bytes: { key: record.key?.length ?? 0, value: record.value?.length ?? 0, record: bytes },
      limit,
    }),
  );
  return { topic, key: record.key, value, bytes: (record.key?.length ?? 0) + value.length, headers: errorHeaders(error, { topic: record.topic }) };
}
