import type { ChangeEvent, ColumnDef, Row, TableSchema } from '../core/change-event.ts';
import { keyOf } from '../core/change-event.ts';
import type { Registry } from '../core/schema-registry.ts';
import { CdcError, errorMessage } from '../core/errors.ts';
import { avroName, changedColumns, envelopeSchema, flatValueSchema, keySchema } from './avro-schema.ts';
import { ConnectJsonTable } from './connect-schema.ts';

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
  /** avro: Confluent-framed Avro through the registry; json: Kafka Connect's JsonConverter format (source/connect-schema.ts). */
  converter: 'avro' | 'json';
  sourceId: string;
  connector: 'mariadb' | 'mysql';
  compatibility: string;
  version: string;
}

interface TableEncoding {
  topic: string;
  /** Registry ids of key and value (avro). */
  key: { id: number | undefined } | null;
  value: { id: number | undefined };
  /** The json converter's schemas and writers (json). */
  connect: ConnectJsonTable | undefined;
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
  readonly #registry: Registry | undefined;
  readonly #settings: EncoderSettings;
  /** Per table schema, per topic (a route transform can send one table to another topic). */
  readonly #tables = new Map<TableSchema, Map<string, Promise<TableEncoding>>>();

  /** `registry` may be undefined with the json converter, which registers nothing. */
  constructor(registry: Registry | undefined, settings: EncoderSettings) {
    this.#registry = registry;
    this.#settings = settings;
  }

  /** The configuration requires SCHEMA_REGISTRY_URL with VALUE_CONVERTER=avro. */
  get #avroRegistry(): Registry {
    if (!this.#registry) throw new CdcError('CONFIG_INVALID', 'VALUE_CONVERTER=avro needs SCHEMA_REGISTRY_URL');
    return this.#registry;
  }

  topicOf(schema: TableSchema): string {
    return topicFor(this.#settings.prefix, schema.database, schema.table);
  }

  async encode(event: ChangeEvent): Promise<EncodedRecord> {
    const encoding = await this.#encoding(event.schema, event.topic ?? this.topicOf(event.schema), event.flat === true);
    const keyRecord = encoding.key && toRecord(encoding.keyFields, keyOf(event));
    if (event.flat) return this.#record(encoding, keyRecord, toRecord(encoding.fields, event.after!));
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
    return this.#record(encoding, keyRecord, envelope);
  }

  /** Key and value in the configured converter's format. */
  async #record(encoding: TableEncoding, keyRecord: Record<string, unknown> | null, valueRecord: Record<string, unknown>): Promise<EncodedRecord> {
    let key: Buffer | null;
    let value: Buffer;
    if (encoding.connect) {
      value = encoding.connect.value(valueRecord);
      key = keyRecord && encoding.connect.key(keyRecord);
    } else {
      value = await this.#avroRegistry.encode(encoding.value.id!, valueRecord);
      key = keyRecord && (await this.#avroRegistry.encode(encoding.key!.id!, keyRecord));
    }
    return { topic: encoding.topic, key, value, bytes: value.length + (key?.length ?? 0) };
  }

  /** The records of one change: its envelope, and after a delete (with `tombstones`) a tombstone. */
  async encodeChange(event: ChangeEvent, tombstones: boolean): Promise<EncodedRecord[]> {
    const record = await this.encode(event);
    // A tombstone after a delete lets log compaction drop the key (Debezium's default too).
    if (event.op === 'd' && tombstones && record.key) return [record, { topic: record.topic, key: record.key, value: null, bytes: record.key.length }];
    return [record];
  }

  #encoding(schema: TableSchema, topic: string, flat: boolean): Promise<TableEncoding> {
    let byTopic = this.#tables.get(schema);
    if (!byTopic) {
      byTopic = new Map();
      this.#tables.set(schema, byTopic);
    }
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
    const { prefix } = this.#settings;
    const json = this.#settings.converter === 'json';
    const valueSchema = flat ? flatValueSchema(prefix, schema) : envelopeSchema(prefix, schema);
    const value = { schema: valueSchema, id: json ? undefined : await this.#registerOrExplain(`${topic}-value`, valueSchema, schema) };
    const keyAvro = keySchema(prefix, schema);
    const key = keyAvro && { schema: keyAvro, id: json ? undefined : await this.#registerOrExplain(`${topic}-key`, keyAvro, schema) };
    const fieldsOf = (columns: ColumnDef[]) => columns.map((c): [string, string] => [c.name, avroName(c.name)]);
    const keyColumns = schema.key.map((name) => schema.columns.find((c) => c.name === name)!);
    const connect = json ? new ConnectJsonTable(prefix, schema, flat) : undefined;
    return { topic, key, value, connect, fields: fieldsOf(schema.columns), keyFields: fieldsOf(keyColumns) };
  }

  /** A refused version becomes SCHEMA_INCOMPATIBLE naming the table, the changed columns and the registry's answer. */
  async #registerOrExplain(subject: string, avro: Record<string, unknown>, schema: TableSchema): Promise<number> {
    try {
      return await this.#avroRegistry.register(subject, avro, this.#settings.compatibility);
    } catch (error) {
      if (!(error instanceof CdcError) || error.code !== 'SCHEMA_INCOMPATIBLE') throw error;
      const previous = await this.#avroRegistry.latest(subject).catch(() => undefined);
      const columns = previous ? changedColumns(previous, avro) : [];
      const table = `${schema.database}.${schema.table}`;
      throw new CdcError(
        'SCHEMA_INCOMPATIBLE',
        `The new schema of ${table} (subject ${subject}; changed columns: ${columns.join('; ') || 'unknown'}) was refused by the schema registry: ${errorMessage(error.cause ?? error)}`,
        {
          cause: error,
          hint: error.hint,
          details: { table, subject, columns },
        },
      );
    }
  }
}

function toRecord(fields: Array<[string, string]>, row: Row): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const [column, field] of fields) record[field] = row[column] ?? null;
  return record;
}
