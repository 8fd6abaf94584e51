import { CdcError } from './errors.ts';
import { escapeRegex, NameClaims } from './name-claims.ts';

/**
 * Every Kafka topic name the source writes, in one place: `<prefix>.<database>.<table>` for changes
 * and `<prefix>.offsets|heartbeats|transactions` beside them.
 */

/** Kafka topic names allow [A-Za-z0-9._-]; anything else in a database or table name becomes `_`. */
export function topicFor(prefix: string, database: string, table: string): string {
  return `${prefix}.${safeTopicPart(database)}.${safeTopicPart(table)}`;
}

const safeTopicPart = (s: string): string => s.replace(/[^A-Za-z0-9_-]/g, '_');

/**
 * The tables each topic carries, so that two tables never share one by accident: `a$b` and `a_b`
 * both become `<prefix>.<db>.a_b`, and Kafka itself refuses a topic that differs from an existing
 * one only in `.` versus `_` (both are `_` in its metric names). A table routed to a topic on
 * purpose claims it under the routed name, so several tables may share it.
 */
export class TopicClaims {
  readonly #claims = new NameClaims();

  /** Throws NAME_COLLISION when `topic` (of `database.table`) is already another table's. */
  claim(topic: string, prefix: string, database: string, table: string): void {
    const routed = topic !== topicFor(prefix, database, table);
    const raw = routed ? topic : `${prefix}.${database}.${table}`;
    const owner = `${database}.${table}`;
    const other = this.#claims.claim(topic.replace(/\./g, '_'), raw, owner);
    if (other === undefined || other === owner) return;
    throw new CdcError('NAME_COLLISION', `Tables ${other} and ${owner} both map to the Kafka topic ${topic} (or to topics Kafka treats as one: '.' and '_' collide)`, {
      hint: `Send one of them to another topic with a source route transform (TRANSFORMS=to, TRANSFORMS_TO_TYPE=route, TRANSFORMS_TO_TABLES=${escapeRegex(owner)}, TRANSFORMS_TO_REGEX=.*, TRANSFORMS_TO_REPLACEMENT=<new topic>), leave one out (TABLE_EXCLUDE), or rename one of the tables; then restart the source.`,
      details: { tables: [other, owner], topic },
    });
  }
}

/** The compacted topic of stored positions, keyed by SOURCE_ID. */
export const offsetsTopic = (prefix: string): string => `${prefix}.offsets`;

export const heartbeatsTopic = (prefix: string): string => `${prefix}.heartbeats`;

/** Transaction metadata: BEGIN/END records (TRANSACTION_METADATA). */
export const transactionsTopic = (prefix: string): string => `${prefix}.transactions`;

/** Where records the pipeline could not deliver go (DLQ_TOPIC), on both sides. */
export const deadLetterTopic = (prefix: string, configured: string | undefined): string => configured ?? `${prefix}.dlq`;

/** The topic-level override that lets a topic hold records up to `bytes` (the broker's message.max.bytes is only its default). */
export const maxMessageBytesConfig = (bytes: number): Array<{ name: string; value: string }> => [{ name: 'max.message.bytes', value: String(bytes) }];
