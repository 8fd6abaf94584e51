import type { Type } from 'avsc';
import type { KafkaMessage } from 'kafkajs';
import { avroType } from '../core/avro-types.ts';
import { decodeFramed, isFramed, readFramed, schemaIdOf } from '../core/avro-wire.ts';
import type { ChangeEvent, Op, Row, TableSchema } from '../core/change-event.ts';
import { JsonChangeReader, type JsonChangeRecord } from '../core/connect-json-reader.ts';
import { FetchedRecord } from '../core/kafkajs-patches.ts';
import { CdcError, errorMessage, isServiceError } from '../core/errors.ts';
import { isJsonRecord } from '../core/json-record.ts';
import { binlogFileIndex, SourcePosition } from '../core/position.ts';
import { versionAt } from '../core/version.ts';
import { registryError } from '../core/registry-errors.ts';
import type { Registry } from '../core/schema-registry.ts';
import { envelopeRenderer, keyIdReader } from './avro-documents.ts';
import { documentId } from './document.ts';
import { rowTypeOfEnvelope, rowUnderColumnNames, tableSchemaOfFields, tableSchemaOfRow } from './index-mapping.ts';

/**
 * A keyed change of the direct path (RecordDecoder.decode with `renderDocument`): what its bulk
 * action needs, where a ChangeEvent has a key, row images and the whole source block: its
 * document id, its external version, and the JSON bytes of the document it leaves (null: a
 * delete), as `document[start, end)` (a block the documents share). Only for sinks that index rows
 * as they are: no transforms, hard deletes, no metadata fields.
 */
export interface RenderedChange {
  op: Op;
  schema: TableSchema;
  topic: string;
  version: bigint;
  id: string;
  document: Buffer | null;
  start: number;
  end: number;
}

/** The document of a change whose envelope has no `after` image although it is not a delete. */
const EMPTY_DOCUMENT = Buffer.from('{}');

interface Envelope {
  op: string;
  before: Row | null;
  after: Row | null;
  source: { db: string; table: string; file: string; pos: bigint | number; row: number; epoch?: number; ts_ms: bigint | number; gtid: string | null; snapshot: string; server_id: bigint | number };
}

/**
 * Decodes change records, Confluent-framed Avro or self-describing JSON (VALUE_CONVERTER=json),
 * whichever the topic holds, into the typed ChangeEvent every stage passes on. Work is split so
 * that I/O happens once per batch: prepare() resolves the schema ids a batch names (the registry
 * caches each id's type for the process), then decode() is synchronous per record. A record that
 * cannot be decoded, including one naming a schema id the registry does not know, is DECODE_FAILED.
 */
export class RecordDecoder {
  readonly #registry: Registry | undefined;
  /** Resolved value and key types by schema id; ids are immutable, so they never go stale. */
  readonly #types = new Map<number, Type>();
  /** Ids the registry refused (unknown id) in the batch being decoded: those records are dead letters. */
  #refused = new Map<number, CdcError>();
  /** Per value schema (registry id, or JSON schema text) and table: one schema object, so per-schema caches downstream keep hitting. */
  readonly #schemas = new Map<string, TableSchema>();
  /** The schema last decoded per value schema key. */
  readonly #lastSchema = new Map<number | string, TableSchema>();
  readonly #json = new JsonChangeReader();

  /** Without a registry (no SCHEMA_REGISTRY_URL) only self-describing JSON records decode. */
  constructor(registry: Registry | undefined) {
    this.#registry = registry;
  }

  /**
   * Resolves every schema id `messages` name that is not known yet. Registry unavailability
   * (retriable) and service-level failures (credentials, certificates, no registry configured)
   * throw; an id the registry refuses is remembered for this batch, and its records fail to decode.
   */
  async prepare(messages: readonly KafkaMessage[]): Promise<void> {
    this.#refused = new Map();
    const missing = new Set<number>();
    const note = (id: number) => {
      if (id >= 0 && !this.#types.has(id)) missing.add(id);
    };
    // Per record: no array of its two buffers, and an indexed loop (run once per chunk, this stays
    // unoptimised, where for-of allocates per record).
    for (let i = 0; i < messages.length; i++) {
      note(framedSchemaId(messages[i]!, 'key'));
      note(framedSchemaId(messages[i]!, 'value'));
    }
    if (missing.size === 0) return;
    const registry = this.#avroRegistry(missing);
    for (const id of missing) {
      try {
        this.#types.set(id, await registry.avroType(id));
      } catch (error) {
        const cdc = registryError(error, `schema id ${id}`);
        if (cdc.retriable || isServiceError(cdc)) throw cdc;
        this.#refused.set(id, cdc);
      }
    }
  }

  /** An Avro record needs the registry: without one the sink stops rather than dead-letter a whole topic. */
  #avroRegistry(ids: Set<number>): Registry {
    if (this.#registry) return this.#registry;
    throw new CdcError('CONFIG_INVALID', `A record holds Confluent-framed Avro (schema id ${[...ids][0]}), but SCHEMA_REGISTRY_URL is not set`, {
      hint: 'Set SCHEMA_REGISTRY_URL to the registry the source writes to, or consume only topics written with VALUE_CONVERTER=json.',
    });
  }

  /**
   * The change a record holds (its `topic` is the record's), or null for a tombstone (the delete
   * before it already carried the change). With `renderDocument`, a keyed Avro change whose row
   * types allow it comes as a RenderedChange: its document's id, version and JSON bytes, without
   * row objects.
   */
  decode(message: KafkaMessage, topic: string): ChangeEvent | null;
  decode(message: KafkaMessage, topic: string, renderDocument: boolean): ChangeEvent | RenderedChange | null;
  decode(message: KafkaMessage, topic: string, renderDocument = false): ChangeEvent | RenderedChange | null {
    // Read once: a fetched record makes its key and value at each read (kafkajs-patches.ts).
    const { key: keyBytes, value } = message;
    if (value === null || value.length === 0) return null;
    if (isJsonRecord(value)) return this.#decodeJson(value, keyBytes, topic);
    const valueType = this.#typeOf(value, 'value');
    const keyed = keyBytes !== null && keyBytes.length > 0;
    const renderer = renderDocument && keyed ? envelopeRenderer(valueType) : undefined;
    if (renderer) {
      const rendered = readFramed(value, 'value', renderer);
      // Read at once: the next record of this type reuses the rendered envelope.
      const envelope = checkedEnvelope(rendered.fields as unknown as Envelope);
      const { source } = envelope;
      const document = envelope.op === 'd' ? null : (rendered.after ?? EMPTY_DOCUMENT);
      return {
        op: envelope.op as Op,
        schema: this.#schemaOf(value, valueType, envelope),
        topic,
        version: versionAt(epochOf(source), binlogFileIndex(source.file), Number(source.pos), Number(source.row)),
        id: this.#documentId(keyBytes!),
        // A delete's document is its absence (hard deletes: the only mode that renders).
        document,
        start: document === rendered.after ? rendered.afterStart : 0,
        end: document === rendered.after ? rendered.afterEnd : (document?.length ?? 0),
      };
    }
    const envelope = checkedEnvelope(decodeFramed(valueType, value, 'value') as Envelope);
    const key = keyed ? this.#key(keyBytes) : null;
    return eventOf(envelope, key, this.#schemaOf(value, valueType, envelope), topic);
  }

  #key(buffer: Buffer): Row {
    return decodeFramed(this.#typeOf(buffer, 'key'), buffer, 'key') as Row;
  }

  /** A key's document id, read from its bytes where the key's type allows. */
  #documentId(buffer: Buffer): string {
    const read = keyIdReader(this.#typeOf(buffer, 'key'));
    return read ? readFramed(buffer, 'key', read) : documentId(this.#key(buffer));
  }

  #schemaOf(value: Buffer, valueType: Type, envelope: Envelope): TableSchema {
    return this.#schema(schemaIdOf(value), envelope, (database, table) => tableSchemaOfRow(database, table, rowTypeOfEnvelope(valueType)));
  }

  #typeOf(buffer: Buffer, what: string): Type {
    if (!isFramed(buffer)) throw new CdcError('DECODE_FAILED', `The ${what} is not in the Confluent wire format (magic byte ${buffer[0]})`);
    const id = schemaIdOf(buffer);
    const type = this.#types.get(id);
    if (type) return type;
    const refused = this.#refused.get(id);
    throw new CdcError('DECODE_FAILED', `Cannot decode the ${what} (schema id ${id}): ${refused?.message ?? 'the schema id was not resolved'}`, { cause: refused });
  }

  /** VALUE_CONVERTER=json records carry their schema (Connect's, or earlier the Avro one): it gives the row's columns. */
  #decodeJson(value: Buffer, keyBuffer: Buffer | null, topic: string): ChangeEvent {
    let record: JsonChangeRecord;
    let key: Row | null = null;
    try {
      record = this.#json.value(value);
      if (keyBuffer && keyBuffer.length > 0) key = this.#json.key(keyBuffer) as Row;
    } catch (error) {
      throw new CdcError('DECODE_FAILED', `Cannot decode a JSON change record: ${errorMessage(error)}`, { cause: error });
    }
    const envelope = checkedEnvelope(record.payload as unknown as Envelope);
    const { columns, renames, avroSchema } = record;
    const tableSchema = columns
      ? (database: string, table: string): TableSchema => tableSchemaOfFields(database, table, columns, renames)
      : (database: string, table: string) => tableSchemaOfRow(database, table, rowTypeOfEnvelope(avroType(avroSchema as never)));
    return eventOf(envelope, key, this.#schema(record.schemaText, envelope, tableSchema), topic);
  }

  #schema(schemaKey: number | string, envelope: Envelope, tableSchema: (database: string, table: string) => TableSchema): TableSchema {
    const { db, table } = envelope.source;
    // Nearly always one table per value schema: a hit needs no key built per record.
    const last = this.#lastSchema.get(schemaKey);
    if (last && last.database === db && last.table === table) return last;
    const cacheKey = `${schemaKey}\u0000${db}\u0000${table}`;
    let schema = this.#schemas.get(cacheKey);
    if (!schema) {
      schema = tableSchema(db, table);
      this.#schemas.set(cacheKey, schema);
    }
    this.#lastSchema.set(schemaKey, schema);
    return schema;
  }
}

function checkedEnvelope(envelope: Envelope): Envelope {
  if (!envelope || !['c', 'u', 'd', 'r'].includes(envelope.op) || !envelope.source) {
    throw new CdcError('DECODE_FAILED', `Record is not a change envelope (op=${JSON.stringify(envelope?.op)})`, {
      hint: "The sink indexes change envelopes. Records written by the source's `unwrap` transform are flat rows for other consumers: leave their topics out of SINK_TOPICS.",
    });
  }
  return envelope;
}

/** Records written before the source block had an epoch are of the first binlog history. */
function epochOf(source: Envelope['source']): number {
  return Number(source.epoch ?? 0);
}

function eventOf(envelope: Envelope, key: Row | null, schema: TableSchema, topic: string): ChangeEvent {
  const { source } = envelope;
  return {
    op: envelope.op as Op,
    schema,
    position: new SourcePosition(source.file, Number(source.pos), Number(source.row), undefined, 0, epochOf(source)),
    gtid: source.gtid ?? undefined,
    tsMs: Number(source.ts_ms),
    snapshot: source.snapshot === 'true' || source.snapshot === 'last' || source.snapshot === 'incremental' ? source.snapshot : 'false',
    serverId: Number(source.server_id),
    topic,
    key,
    before: rowUnderColumnNames(schema, envelope.before),
    after: rowUnderColumnNames(schema, envelope.after),
  };
}

/** The registry id a framed key or value names, -1 when it is null or not framed; a fetched record tells it without a view of the bytes. */
function framedSchemaId(message: { key?: Buffer | null; value: Buffer | null }, part: 'key' | 'value'): number {
  if (message instanceof FetchedRecord) return message.schemaIdOf(part);
  const buffer = message[part] ?? null;
  return buffer && isFramed(buffer) ? schemaIdOf(buffer) : -1;
}
