/**
 * Every Kafka topic name the source writes, in one place: `<prefix>.<database>.<table>` for changes
 * and `<prefix>.offsets|heartbeats|transactions` beside them.
 */

/** Kafka topic names allow [A-Za-z0-9._-]; anything else in a database or table name becomes `_`. */
export function topicFor(prefix: string, database: string, table: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, '_');
  return `${prefix}.${safe(database)}.${safe(table)}`;
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
