import type { KafkaMessage } from 'kafkajs';
import type { Type } from 'avsc';
import type { TableSchema } from '../core/change-event.ts';
import { CdcError, errorMessage } from '../core/errors.ts';
import { SourcePosition } from '../core/position.ts';
import type { Registry } from '../core/schema-registry.ts';
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
  snapshot: 'true' | 'last' | 'false';
  serverId: number;
  /** The row's columns and kinds, from the value schema: what the sink's transforms and index mappings work on. */
  schema: TableSchema;
}

interface Envelope {
  op: string;
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  source: { db: string; table: string; file: string; pos: bigint | number; row: number; ts_ms: bigint; gtid: string | null; snapshot: string; server_id: bigint | number };
}

/** Decodes Confluent-framed Avro change records. A record that cannot be decoded is DECODE_FAILED. */
export class ChangeDecoder {
  readonly #registry: Registry;
  /** Per value schema id and table: one schema object, so per-schema caches downstream keep hitting. */
  readonly #schemas = new Map<string, TableSchema>();

  constructor(registry: Registry) {
    this.#registry = registry;
  }

  /** null for tombstones (the delete before them already carried the change). */
  async decode(message: KafkaMessage): Promise<DecodedChange | null> {
    if (message.value === null || message.value.length === 0) return null;
    const valueSchemaId = schemaIdOf(message.value);
    const envelope = (await this.#decode(message.value, 'value')) as Envelope;
    const key = message.key && message.key.length > 0 ? ((await this.#decode(message.key, 'key')) as Record<string, unknown>) : null;
    if (!['c', 'u', 'd', 'r'].includes(envelope.op) || !envelope.source) {
      throw new CdcError('DECODE_FAILED', `Record is not a change envelope (op=${JSON.stringify(envelope.op)})`, {
        hint: 'The sink indexes change envelopes. Records written by the source\'s `unwrap` transform are flat rows for other consumers: leave their topics out of SINK_TOPICS.',
      });
    }
    const { source } = envelope;
    return {
      op: envelope.op as DecodedChange['op'],
      key,
      before: envelope.before,
      after: envelope.after,
      position: new SourcePosition(source.file, Number(source.pos), source.row),
      database: source.db,
      table: source.table,
      tsMs: source.ts_ms,
      gtid: source.gtid ?? null,
      snapshot: source.snapshot === 'true' || source.snapshot === 'last' ? source.snapshot : 'false',
      serverId: Number(source.server_id),
      schema: await this.#schema(valueSchemaId, source.db, source.table),
    };
  }

  async #decode(buffer: Buffer, what: string): Promise<unknown> {
    if (buffer[0] !== 0 || buffer.length < 5) {
      throw new CdcError('DECODE_FAILED', `The ${what} is not in the Confluent wire format (magic byte ${buffer[0]})`);
    }
    try {
      return await this.#registry.client.decode(buffer);
    } catch (error) {
      const status = (error as { status?: number }).status;
      const retriable = status === undefined ? /ECONNREFUSED|fetch failed|socket|timeout/i.test(errorMessage(error)) : status >= 500;
      throw new CdcError(retriable ? 'REGISTRY_UNAVAILABLE' : 'DECODE_FAILED', `Cannot decode the ${what} (schema id ${schemaIdOf(buffer)}): ${errorMessage(error)}`, {
        cause: error,
        retriable,
      });
    }
  }

  async #schema(id: number, database: string, table: string): Promise<TableSchema> {
    const cacheKey = `${id}\u0000${database}\u0000${table}`;
    let schema = this.#schemas.get(cacheKey);
    if (!schema) {
      schema = tableSchemaOfRow(database, table, rowTypeOfEnvelope((await this.#registry.client.getSchema(id)) as unknown as Type));
      this.#schemas.set(cacheKey, schema);
    }
    return schema;
  }
}

function schemaIdOf(buffer: Buffer): number {
  return buffer.length >= 5 ? buffer.readInt32BE(1) : -1;
}
