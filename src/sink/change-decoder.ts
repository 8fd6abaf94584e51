import type { KafkaMessage } from 'kafkajs';
import type { Type } from 'avsc';
import { avroType } from '../core/avro-types.ts';
import { schemaFingerprint, type TableSchema } from '../core/change-event.ts';
import { CdcError, errorMessage } from '../core/errors.ts';
import { JsonChangeReader, type JsonChangeRecord } from '../core/connect-json-reader.ts';
import { isJsonRecord } from '../core/json-record.ts';
import { SourcePosition } from '../core/position.ts';
import { registrySecurityError, type Registry } from '../core/schema-registry.ts';
import { rowTypeOfEnvelope, tableSchemaOfRow } from './index-mapping.ts';

/** A change as the sink sees it after decoding: enough to index or delete one document. */
export interface DecodedChange {
  op: 'c' | 'u' | 'd' | 'r';
  key: Record<string, unknown> | null;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  position: SourcePosition;
  database: string;
  table: string;
  /** Commit time on the source server, ms since the epoch. */
  tsMs: bigint;
  gtid: string | null;
  snapshot: 'true' | 'last' | 'incremental' | 'false';
  serverId: number;
  /** The row's columns and kinds, from the value schema: what the sink's transforms and index mappings work on. */
  schema: TableSchema;
}

interface Envelope {
  op: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  source: { db: string; table: string; file: string; pos: bigint | number; row: number; ts_ms: bigint | number; gtid: string | null; snapshot: string; server_id: bigint | number };
}

/**
 * Decodes change records, Confluent-framed Avro or self-describing JSON (VALUE_CONVERTER=json),
 * whichever the topic holds. A record that cannot be decoded is DECODE_FAILED.
 */
export class ChangeDecoder {
  readonly #registry: Registry | undefined;
  /** Per value schema (registry id, or JSON schema text) and table: one schema object, so per-schema caches downstream keep hitting. */
  readonly #schemas = new Map<string, TableSchema>();
  readonly #json = new JsonChangeReader();

  /** Without a registry (no SCHEMA_REGISTRY_URL) only self-describing JSON records decode. */
  constructor(registry: Registry | undefined) {
    this.#registry = registry;
  }

  /** An Avro record needs the registry: without one the sink stops rather than dead-letter a whole topic. */
  #avroRegistry(buffer: Buffer): Registry {
    if (this.#registry) return this.#registry;
    throw new CdcError('CONFIG_INVALID', `A record holds Confluent-framed Avro (schema id ${schemaIdOf(buffer)}), but SCHEMA_REGISTRY_URL is not set`, {
      hint: 'Set SCHEMA_REGISTRY_URL to the registry the source writes to, or consume only topics written with VALUE_CONVERTER=json.',
    });
  }

  /** null for tombstones (the delete before them already carried the change). */
  async decode(message: KafkaMessage): Promise<DecodedChange | null> {
    const { value } = message;
    if (value === null || value.length === 0) return null;
    if (isJsonRecord(value)) return this.#decodeJson(value, message.key);
    const valueSchemaId = schemaIdOf(value);
    const envelope = checkedEnvelope((await this.#decode(value, 'value')) as Envelope);
    const key = message.key && message.key.length > 0 ? ((await this.#decode(message.key, 'key')) as Record<string, unknown>) : null;
    const tableSchema = async (database: string, table: string) =>
      tableSchemaOfRow(database, table, rowTypeOfEnvelope((await this.#avroRegistry(value).client.getSchema(valueSchemaId)) as unknown as Type));
    return changeOf(envelope, key, await this.#schema(String(valueSchemaId), envelope, tableSchema));
  }

  /** VALUE_CONVERTER=json records carry their schema (Connect's, or earlier the Avro one): it gives the row's columns. */
  async #decodeJson(value: Buffer, keyBuffer: Buffer | null): Promise<DecodedChange> {
    let record: JsonChangeRecord;
    let key: Record<string, unknown> | null = null;
    try {
      record = this.#json.value(value);
      if (keyBuffer && keyBuffer.length > 0) key = this.#json.key(keyBuffer);
    } catch (error) {
      throw new CdcError('DECODE_FAILED', `Cannot decode a JSON change record: ${errorMessage(error)}`, { cause: error });
    }
    const envelope = checkedEnvelope(record.payload as unknown as Envelope);
    const { columns, avroSchema } = record;
    const tableSchema = columns
      ? async (database: string, table: string) => ({ database, table, columns, key: [], fingerprint: schemaFingerprint(columns, []) })
      : async (database: string, table: string) => tableSchemaOfRow(database, table, rowTypeOfEnvelope(avroType(avroSchema as never)));
    return changeOf(envelope, key, await this.#schema(record.schemaText, envelope, tableSchema));
  }

  async #schema(schemaKey: string, envelope: Envelope, tableSchema: (database: string, table: string) => Promise<TableSchema>): Promise<TableSchema> {
    const cacheKey = `${schemaKey}\u0000${envelope.source.db}\u0000${envelope.source.table}`;
    let schema = this.#schemas.get(cacheKey);
    if (!schema) {
      schema = await tableSchema(envelope.source.db, envelope.source.table);
      this.#schemas.set(cacheKey, schema);
    }
    return schema;
  }

  async #decode(buffer: Buffer, what: string): Promise<unknown> {
    if (buffer[0] !== 0 || buffer.length < 5) {
      throw new CdcError('DECODE_FAILED', `The ${what} is not in the Confluent wire format (magic byte ${buffer[0]})`);
    }
    const registry = this.#avroRegistry(buffer);
    try {
      return await registry.client.decode(buffer);
    } catch (error) {
      const security = registrySecurityError(error);
      if (security) throw security;
      const status = (error as { status?: number }).status;
      const retriable = status === undefined ? /ECONNREFUSED|fetch failed|socket|timeout/i.test(errorMessage(error)) : status >= 500;
      throw new CdcError(retriable ? 'REGISTRY_UNAVAILABLE' : 'DECODE_FAILED', `Cannot decode the ${what} (schema id ${schemaIdOf(buffer)}): ${errorMessage(error)}`, {
        cause: error,
        retriable,
      });
    }
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

function changeOf(envelope: Envelope, key: Record<string, unknown> | null, schema: TableSchema): DecodedChange {
  const { source } = envelope;
  return {
    op: envelope.op as DecodedChange['op'],
    key,
    before: envelope.before,
    after: envelope.after,
    position: new SourcePosition(source.file, Number(source.pos), Number(source.row)),
    database: source.db,
    table: source.table,
    tsMs: BigInt(source.ts_ms),
    gtid: source.gtid ?? null,
    snapshot: source.snapshot === 'true' || source.snapshot === 'last' || source.snapshot === 'incremental' ? source.snapshot : 'false',
    serverId: Number(source.server_id),
    schema,
  };
}

function schemaIdOf(buffer: Buffer): number {
  return buffer.length >= 5 ? buffer.readInt32BE(1) : -1;
}
