import type { Type } from 'avsc';
import type { ChangeEvent, ColumnDef, Row, TableSchema } from '../core/change-event.ts';
import type { Registry } from '../core/schema-registry.ts';
import { encodeFramed, encodeFramedWith } from '../core/avro-wire.ts';
import { TopicClaims, topicFor } from '../core/topics.ts';
import { CdcError, errorMessage } from '../core/errors.ts';
import { avroName, changedColumns, envelopeSchema, flatValueSchema, keySchema } from './avro-schema.ts';
import { ConnectJsonTable } from './connect-schema.ts';
import { type EnvelopeWrite, envelopeRecord, envelopeWriter } from './envelope-writer.ts';
import type { EncodedRecord } from './encoded-record.ts';
import type { OversizePolicy } from './oversize-policy.ts';

/** The partition of every record of a keyless table: one partition keeps their binlog order. */
const KEYLESS_PARTITION = 0;

export interface EncoderSettings {
  prefix: string;
  /** avro: Confluent-framed Avro through the registry; json: Kafka Connect's JsonConverter format (source/connect-schema.ts). */
  converter: 'avro' | 'json';
  sourceId: string;
  connector: 'mariadb' | 'mysql';
  compatibility: string;
  version: string;
  /** What happens to a record too large for its topic (source/oversize-policy.ts); unset: nothing is checked. */
  oversize?: OversizePolicy | undefined;
  /** The binlog epoch of this run, in every record's source block: the sink's version takes it as its top bits. */
  epoch: number;
}

/** How the records of one table schema (for one topic) are written: resolved once, then used synchronously. */
interface TableEncoding {
  topic: string;
  /** Registry ids and avsc types of key and value (avro). */
  key: SchemaRef | null;
  value: SchemaRef;
  /** The json converter's schemas and writers (json). */
  connect: ConnectJsonTable | undefined;
  keyFields: Array<[column: string, field: string]>;
  /** A row image as its record: the row itself when every field is named as its column (avro), else a copy under the field names. */
  rowRecord: (row: Row) => Record<string, unknown>;
  /** Writes the envelope (avro, not flat) from the event itself (envelope-writer.ts). */
  envelope: EnvelopeWrite | undefined;
}

interface SchemaRef {
  id: number | undefined;
  type: Type | undefined;
  schema: Record<string, unknown>;
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
  /** The same, once resolved: what the synchronous path reads. */
  readonly #resolved = new Map<TableSchema, Map<string, TableEncoding>>();
  readonly #topics = new WeakMap<TableSchema, string>();
  /** Which table each topic carries: two tables never share one by accident (NAME_COLLISION). */
  readonly topicClaims = new TopicClaims();

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

  /** A table's own topic; kept per schema, as every record of an unrouted table asks for it. */
  topicOf(schema: TableSchema): string {
    let topic = this.#topics.get(schema);
    if (topic === undefined) {
      topic = topicFor(this.#settings.prefix, schema.database, schema.table);
      this.#topics.set(schema, topic);
    }
    return topic;
  }

  /** The topic `event`'s records go to: routed by a transform, or its table's own. */
  topicOfEvent(event: ChangeEvent): string {
    return event.topic ?? this.topicOf(event.schema);
  }

  /** Encodes one change (resolving its table's schemas first when needed). */
  async encode(event: ChangeEvent): Promise<EncodedRecord> {
    await this.prepare(event);
    return this.#encode(event, this.#ready(event)!);
  }

  /**
   * Whether `event`'s table encoding is resolved, so encodeChange() runs synchronously; the first
   * record of a table (or of a new table version) awaits prepare().
   */
  isPrepared(event: ChangeEvent): boolean {
    return this.#ready(event) !== undefined;
  }

  /** encodeChange() when `event`'s table encoding is resolved (one lookup: the dispatcher asks for every record); false when it must be prepared first. */
  encodeIfPrepared(event: ChangeEvent, tombstones: boolean, out: (record: EncodedRecord) => void): boolean {
    const encoding = this.#ready(event);
    if (!encoding) return false;
    this.#encodeWith(event, encoding, tombstones, out);
    return true;
  }

  /** The topic `event`'s records go to, claimed for its table: NAME_COLLISION when another table has it. */
  claimTopic(event: ChangeEvent): string {
    const topic = this.topicOfEvent(event);
    this.topicClaims.claim(topic, this.#settings.prefix, event.schema.database, event.schema.table);
    return topic;
  }

  /** Registers (or finds) the table's schemas and resolves their avsc types. */
  async prepare(event: ChangeEvent): Promise<void> {
    await this.#encoding(event.schema, this.claimTopic(event), event.flat === true);
  }

  /**
   * Prepares the tables of many changes at once, `concurrency` registrations at a time: the
   * snapshot of many small tables then waits for the registry once per batch, not once per
   * table in turn.
   */
  async prepareAll(events: Iterable<ChangeEvent>, concurrency: number): Promise<void> {
    const waiting = new Map<string, ChangeEvent>();
    for (const event of events) {
      if (this.isPrepared(event)) continue;
      const key = `${event.schema.database}\u0000${event.schema.table}\u0000${event.topic ?? ''}\u0000${event.flat === true}`;
      if (!waiting.has(key)) waiting.set(key, event);
    }
    const queue = [...waiting.values()];
    const worker = async (): Promise<void> => {
      for (let event = queue.pop(); event; event = queue.pop()) await this.prepare(event);
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, queue.length) }, worker));
  }

  /**
   * The records of one prepared change, appended to `out`: its envelope and, after a delete with
   * `tombstones`, a tombstone (log compaction then drops the key; Debezium's default too).
   */
  encodeChange(event: ChangeEvent, tombstones: boolean, out: (record: EncodedRecord) => void): void {
    const encoding = this.#ready(event);
    if (!encoding) throw new CdcError('INTERNAL', `encodeChange before prepare for ${event.schema.database}.${event.schema.table}`);
    this.#encodeWith(event, encoding, tombstones, out);
  }

  #encodeWith(event: ChangeEvent, encoding: TableEncoding, tombstones: boolean, out: (record: EncodedRecord) => void): void {
    const record = this.#encode(event, encoding);
    const oversize = this.#settings.oversize;
    out(oversize && record.bytes > oversize.maxRecordBytes ? oversize.admit(record, event, () => this.#encode(event, encoding, false)) : record);
    if (event.op === 'd' && tombstones && record.key) out({ topic: record.topic, key: record.key, value: null, bytes: record.key.length });
  }

  /** `withBefore` false leaves the envelope's `before` null: what an oversize update or delete may still carry (oversize-policy.ts). */
  #encode(event: ChangeEvent, encoding: TableEncoding, withBefore = true): EncodedRecord {
    const row = event.after ?? event.before!;
    const keyRecord = encoding.key && toRecord(encoding.keyFields, row);
    if (event.flat) return this.#record(encoding, keyRecord, encoding.rowRecord(event.after!));
    if (encoding.envelope && withBefore) {
      const value = encodeEnvelope(encoding.value, encoding.envelope, event);
      // A value its schema refuses is encoded again the generic way, which names the fields at fault.
      if (value) return this.#framed(encoding, keyRecord && encodeAvro(encoding.key!, keyRecord), value);
    }
    return this.#record(encoding, keyRecord, envelopeRecord(event, this.#settings, encoding.rowRecord, withBefore));
  }

  /** Key and value in the configured converter's format. */
  #record(encoding: TableEncoding, keyRecord: Record<string, unknown> | null, valueRecord: Record<string, unknown>): EncodedRecord {
    if (encoding.connect) return this.#framed(encoding, keyRecord && encoding.connect.key(keyRecord), encoding.connect.value(valueRecord));
    return this.#framed(encoding, keyRecord && encodeAvro(encoding.key!, keyRecord), encodeAvro(encoding.value, valueRecord));
  }

  #framed(encoding: TableEncoding, key: Buffer | null, value: Buffer): EncodedRecord {
    if (key === null) return { topic: encoding.topic, key, value, bytes: value.length, partition: KEYLESS_PARTITION };
    return { topic: encoding.topic, key, value, bytes: value.length + key.length };
  }

  /** The resolved encoding of `event`'s table and topic, if prepared. */
  #ready(event: ChangeEvent): TableEncoding | undefined {
    const byTopic = this.#resolved.get(event.schema);
    if (!byTopic) return undefined;
    const topic = this.topicOfEvent(event);
    return byTopic.get(event.flat ? `${topic}\u0000flat` : topic);
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
      encoding.then(
        (resolved) => {
          let ready = this.#resolved.get(schema);
          if (!ready) {
            ready = new Map();
            this.#resolved.set(schema, ready);
          }
          ready.set(cacheKey, resolved);
        },
        // A failed registration must be retried with the next event, not cached.
        () => byTopic.delete(cacheKey),
      );
    }
    return encoding;
  }

  /** Subjects follow the topic the record is written to (TopicNameStrategy), routed or not. */
  async #register(schema: TableSchema, topic: string, flat: boolean): Promise<TableEncoding> {
    const { prefix } = this.#settings;
    const valueSchema = flat ? flatValueSchema(prefix, schema) : envelopeSchema(prefix, schema);
    const keyAvro = keySchema(prefix, schema);
    // Side by side: a new table waits for the registry once, not once per subject. When both are
    // refused, the value's refusal is the one reported, as when they were registered in turn.
    const [valueRef, keyRef] = await Promise.allSettled([this.#schemaRef(`${topic}-value`, valueSchema, schema), keyAvro && this.#schemaRef(`${topic}-key`, keyAvro, schema)]);
    if (valueRef.status === 'rejected') throw valueRef.reason;
    if (keyRef.status === 'rejected') throw keyRef.reason;
    const value = valueRef.value;
    const key = keyRef.value;
    const fieldsOf = (columns: ColumnDef[]) => columns.map((c): [string, string] => [c.name, avroName(c.name)]);
    const keyColumns = schema.key.map((name) => schema.columns.find((c) => c.name === name)!);
    const fields = fieldsOf(schema.columns);
    const rowIsRecord = this.#settings.converter === 'avro' && fields.every(([column, field]) => column === field);
    const connect = this.#settings.converter === 'json' ? new ConnectJsonTable(prefix, schema, flat) : undefined;
    const rowRecord = rowIsRecord ? (row: Row) => row : (row: Row) => toRecord(fields, row);
    const envelope = value.type && !flat ? envelopeWriter(value.type, schema, this.#settings, rowRecord) : undefined;
    return { topic, key, value, connect, keyFields: fieldsOf(keyColumns), rowRecord, envelope };
  }

  /** The id and avsc type of a schema (avro: registered, then resolved once), or the schema itself (json). */
  async #schemaRef(subject: string, avro: Record<string, unknown>, schema: TableSchema): Promise<SchemaRef> {
    if (this.#settings.converter === 'json') return { id: undefined, type: undefined, schema: avro };
    const id = await this.#registerOrExplain(subject, avro, schema);
    return { id, type: await this.#avroRegistry.avroType(id), schema: avro };
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

/** Confluent-framed Avro; a value the schema refuses names the fields at fault, as the registry client did. */
function encodeAvro(ref: SchemaRef, value: Record<string, unknown>): Buffer {
  try {
    return encodeFramed(ref.id!, ref.type!, value);
  } catch (error) {
    const paths: string[] = [];
    ref.type!.isValid(value, { errorHook: (path) => paths.push(path.join('.')) });
    throw new CdcError('INTERNAL', `A record does not match its Avro schema (id ${ref.id}; fields ${paths.join(', ') || 'unknown'}): ${errorMessage(error)}`, { cause: error });
  }
}

/** The envelope written by `write`; undefined when it throws (a value the schema refuses). */
function encodeEnvelope(ref: SchemaRef, write: EnvelopeWrite, event: ChangeEvent): Buffer | undefined {
  try {
    return encodeFramedWith(ref.id!, write, event);
  } catch {
    return undefined;
  }
}

function toRecord(fields: Array<[string, string]>, row: Row): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const [column, field] of fields) record[field] = row[column] ?? null;
  return record;
}
