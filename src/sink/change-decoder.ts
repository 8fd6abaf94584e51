import type { KafkaMessage } from 'kafkajs';
import type { Type } from 'avsc';
import { avroType } from '../core/avro-types.ts';
import { CdcError, errorMessage } from '../core/errors.ts';
import { isJsonRecord, parseJsonRecord } from '../core/json-record.ts';
import { SourcePosition } from '../core/position.ts';
import { registrySecurityError, type Registry } from '../core/schema-registry.ts';
import { rowTypeOfEnvelope } from './index-mapping.ts';

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
  /** Registry id of the value schema and its row type, for index mappings. */
  valueSchemaId: number;
  rowType: Type | undefined;
}

interface Envelope {
  op: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  source: { db: string; table: string; file: string; pos: bigint | number; row: number; ts_ms: bigint | number; gtid: string | null };
}

/**
 * Decodes change records, Confluent-framed Avro or self-describing JSON (VALUE_CONVERTER=json),
 * whichever the topic holds. A record that cannot be decoded is DECODE_FAILED.
 */
export class ChangeDecoder {
  readonly #registry: Registry;
  readonly #rowTypes = new Map<number, Type | undefined>();
  readonly #jsonSchemas = new Map<string, { id: number; rowType: Type | undefined }>();

  constructor(registry: Registry) {
    this.#registry = registry;
  }

  /** null for tombstones (the delete before them already carried the change). */
  async decode(message: KafkaMessage): Promise<DecodedChange | null> {
    if (message.value === null || message.value.length === 0) return null;
    if (isJsonRecord(message.value)) return this.#decodeJson(message.value, message.key);
    const valueSchemaId = schemaIdOf(message.value);
    const envelope = (await this.#decode(message.value, 'value')) as Envelope;
    const key = message.key && message.key.length > 0 ? ((await this.#decode(message.key, 'key')) as Record<string, unknown>) : null;
    return changeOf(envelope, key, valueSchemaId, await this.#rowType(valueSchemaId));
  }

  /**
   * VALUE_CONVERTER=json records carry their Avro schema: it gives the row type (for mappings)
   * and a local id per distinct schema (negative, so it never meets a registry id).
   */
  #decodeJson(value: Buffer, keyBuffer: Buffer | null): DecodedChange {
    let envelope: Envelope;
    let key: Record<string, unknown> | null = null;
    let schemaText: string;
    try {
      const record = parseJsonRecord(value);
      envelope = record.payload as unknown as Envelope;
      schemaText = JSON.stringify(record.schema);
      if (keyBuffer && keyBuffer.length > 0) key = parseJsonRecord(keyBuffer).payload;
      if (!this.#jsonSchemas.has(schemaText)) this.#jsonSchemas.set(schemaText, { id: -1 - this.#jsonSchemas.size, rowType: rowTypeOfEnvelope(avroType(record.schema as never)) });
    } catch (error) {
      throw new CdcError('DECODE_FAILED', `Cannot decode a JSON change record: ${errorMessage(error)}`, { cause: error });
    }
    const { id, rowType } = this.#jsonSchemas.get(schemaText)!;
    return changeOf(envelope, key, id, rowType);
  }

  async #decode(buffer: Buffer, what: string): Promise<unknown> {
    if (buffer[0] !== 0 || buffer.length < 5) {
      throw new CdcError('DECODE_FAILED', `The ${what} is not in the Confluent wire format (magic byte ${buffer[0]})`);
    }
    try {
      return await this.#registry.client.decode(buffer);
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

  async #rowType(id: number): Promise<Type | undefined> {
    if (!this.#rowTypes.has(id)) this.#rowTypes.set(id, rowTypeOfEnvelope((await this.#registry.client.getSchema(id)) as unknown as Type));
    return this.#rowTypes.get(id);
  }
}

function changeOf(envelope: Envelope, key: Record<string, unknown> | null, valueSchemaId: number, rowType: Type | undefined): DecodedChange {
  if (!['c', 'u', 'd', 'r'].includes(envelope.op) || !envelope.source) {
    throw new CdcError('DECODE_FAILED', `Record is not a change envelope (op=${JSON.stringify(envelope.op)})`);
  }
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
    valueSchemaId,
    rowType,
  };
}

function schemaIdOf(buffer: Buffer): number {
  return buffer.length >= 5 ? buffer.readInt32BE(1) : -1;
}
