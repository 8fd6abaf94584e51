import type { ChangeEvent, ColumnDef, Row, TableSchema } from '../core/change-event.ts';
import { keyOf } from '../core/change-event.ts';
import type { Registry } from '../core/schema-registry.ts';
import { avroName, envelopeSchema, flatValueSchema, keySchema } from './avro-schema.ts';

export interface EncodedRecord {
  topic: string;
  key: Buffer | null;
  /** null for tombstones. */
  value: Buffer | null;
  /** Encoded size, for batch accounting. */
  bytes: number;
}

export interface EncoderSettings {
  prefix: string;
  sourceId: string;
  connector: 'mariadb' | 'mysql';
  compatibility: string;
  version: string;
}

interface TableEncoding {
  topic: string;
  keyId: number | null;
  valueId: number;
  fields: Array<[column: string, field: string]>;
  keyFields: Array<[column: string, field: string]>;
}

/** Kafka topic names allow [A-Za-z0-9._-]; anything else in a database or table name becomes `_`. */
export function topicFor(prefix: string, database: string, table: string): string {
  const safe = (s: string) => s.replace(/[^A-Za-z0-9_-]/g, '_');
  return `${prefix}.${safe(database)}.${safe(table)}`;
}

/**
 * Turns ChangeEvents into Confluent-framed Avro records: key = the primary key record, value = the
 * Debezium-style envelope. Schemas are registered under TopicNameStrategy subjects the first time
 * a table (or a new version of it) is seen.
 */
export class EventEncoder {
  readonly #registry: Registry;
  readonly #settings: EncoderSettings;
  /** Per table schema, per topic (a route transform can send one table to another topic). */
  readonly #tables = new Map<TableSchema, Map<string, Promise<TableEncoding>>>();

  constructor(registry: Registry, settings: EncoderSettings) {
    this.#registry = registry;
    this.#settings = settings;
  }

  topicOf(schema: TableSchema): string {
    return topicFor(this.#settings.prefix, schema.database, schema.table);
  }

  async encode(event: ChangeEvent): Promise<EncodedRecord> {
    const encoding = await this.#encoding(event.schema, event.topic ?? this.topicOf(event.schema), event.flat === true);
    const key = encoding.keyId === null ? null : await this.#registry.encode(encoding.keyId, toRecord(encoding.keyFields, keyOf(event)));
    if (event.flat) {
      const value = await this.#registry.encode(encoding.valueId, toRecord(encoding.fields, event.after!));
      return { topic: encoding.topic, key, value, bytes: value.length + (key?.length ?? 0) };
    }
    const { prefix, sourceId, connector, version } = this.#settings;
    const envelope = {
      before: event.before && toRecord(encoding.fields, event.before),
      after: event.after && toRecord(encoding.fields, event.after),
      source: {
        version,
        connector,
        name: prefix,
        source_id: sourceId,
        ts_ms: event.tsMs,
        snapshot: event.snapshot,
        db: event.schema.database,
        table: event.schema.table,
        server_id: event.serverId,
        gtid: event.gtid ?? null,
        file: event.position.file,
        pos: event.position.pos,
        row: event.position.row,
      },
      op: event.op,
      ts_ms: Date.now(),
      transaction: event.transaction ? { id: event.transaction.id, total_order: event.transaction.totalOrder, data_collection_order: event.transaction.tableOrder } : null,
    };
    const value = await this.#registry.encode(encoding.valueId, envelope);
    return { topic: encoding.topic, key, value, bytes: value.length + (key?.length ?? 0) };
  }

  #encoding(schema: TableSchema, topic: string, flat: boolean): Promise<TableEncoding> {
    let byTopic = this.#tables.get(schema);
    if (!byTopic) this.#tables.set(schema, (byTopic = new Map()));
    const cacheKey = flat ? `${topic}\u0000flat` : topic;
    let encoding = byTopic.get(cacheKey);
    if (!encoding) {
      encoding = this.#register(schema, topic, flat);
      byTopic.set(cacheKey, encoding);
      // A failed registration must be retried with the next event, not cached.
      encoding.catch(() => byTopic.delete(cacheKey));
    }
    return encoding;
  }

  /** Subjects follow the topic the record is written to (TopicNameStrategy), routed or not. */
  async #register(schema: TableSchema, topic: string, flat: boolean): Promise<TableEncoding> {
    const { prefix, compatibility } = this.#settings;
    const valueId = await this.#registry.register(`${topic}-value`, flat ? flatValueSchema(prefix, schema) : envelopeSchema(prefix, schema), compatibility);
    const key = keySchema(prefix, schema);
    const keyId = key ? await this.#registry.register(`${topic}-key`, key, compatibility) : null;
    const fieldsOf = (columns: ColumnDef[]) => columns.map((c): [string, string] => [c.name, avroName(c.name)]);
    const keyColumns = schema.key.map((name) => schema.columns.find((c) => c.name === name)!);
    return { topic, keyId, valueId, fields: fieldsOf(schema.columns), keyFields: fieldsOf(keyColumns) };
  }
}

function toRecord(fields: Array<[string, string]>, row: Row): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const [column, field] of fields) record[field] = row[column] ?? null;
  return record;
}
