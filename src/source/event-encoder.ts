import type { ChangeEvent, ColumnDef, Row, TableSchema } from '../core/change-event.ts';
import { keyOf } from '../core/change-event.ts';
import type { Registry } from '../core/schema-registry.ts';
import { CdcError, errorMessage } from '../core/errors.ts';
import { avroName, changedColumns, envelopeSchema, keySchema } from './avro-schema.ts';

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
  readonly #tables = new Map<TableSchema, Promise<TableEncoding>>();

  constructor(registry: Registry, settings: EncoderSettings) {
    this.#registry = registry;
    this.#settings = settings;
  }

  topicOf(schema: TableSchema): string {
    return topicFor(this.#settings.prefix, schema.database, schema.table);
  }

  async encode(event: ChangeEvent): Promise<EncodedRecord> {
    const encoding = await this.#encoding(event.schema);
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
    const key = encoding.keyId === null ? null : await this.#registry.encode(encoding.keyId, toRecord(encoding.keyFields, keyOf(event)));
    return { topic: encoding.topic, key, value, bytes: value.length + (key?.length ?? 0) };
  }

  #encoding(schema: TableSchema): Promise<TableEncoding> {
    let encoding = this.#tables.get(schema);
    if (!encoding) {
      encoding = this.#register(schema);
      this.#tables.set(schema, encoding);
      // A failed registration must be retried with the next event, not cached.
      encoding.catch(() => this.#tables.delete(schema));
    }
    return encoding;
  }

  async #register(schema: TableSchema): Promise<TableEncoding> {
    const { prefix } = this.#settings;
    const topic = this.topicOf(schema);
    const valueId = await this.#registerOrExplain(`${topic}-value`, envelopeSchema(prefix, schema), schema);
    const key = keySchema(prefix, schema);
    const keyId = key ? await this.#registerOrExplain(`${topic}-key`, key, schema) : null;
    const fieldsOf = (columns: ColumnDef[]) => columns.map((c): [string, string] => [c.name, avroName(c.name)]);
    const keyColumns = schema.key.map((name) => schema.columns.find((c) => c.name === name)!);
    return { topic, keyId, valueId, fields: fieldsOf(schema.columns), keyFields: fieldsOf(keyColumns) };
  }

  /** A refused version becomes SCHEMA_INCOMPATIBLE naming the table, the changed columns and the registry's answer. */
  async #registerOrExplain(subject: string, avro: Record<string, unknown>, schema: TableSchema): Promise<number> {
    try {
      return await this.#registry.register(subject, avro, this.#settings.compatibility);
    } catch (error) {
      if (!(error instanceof CdcError) || error.code !== 'SCHEMA_INCOMPATIBLE') throw error;
      const previous = await this.#registry.latest(subject).catch(() => undefined);
      const columns = previous ? changedColumns(previous, avro) : [];
      const table = `${schema.database}.${schema.table}`;
      throw new CdcError('SCHEMA_INCOMPATIBLE', `The new schema of ${table} (subject ${subject}; changed columns: ${columns.join('; ') || 'unknown'}) was refused by the schema registry: ${errorMessage(error.cause ?? error)}`, {
        cause: error,
        hint: error.hint,
        details: { table, subject, columns },
      });
    }
  }
}

function toRecord(fields: Array<[string, string]>, row: Row): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const [column, field] of fields) record[field] = row[column] ?? null;
  return record;
}
