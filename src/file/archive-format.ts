import type avro from 'avsc';
import type { IHeaders } from 'kafkajs';
import { CdcError } from '../core/errors.ts';

/**
 * The archive's JSON lines. A file is self-contained: before the first record that uses a schema
 * id, a `schema` line carries the registry's schema text, so an archive restores into a registry
 * that never saw it. Keys and values are Avro's own JSON encoding of the decoded record (longs
 * beyond 2^53 as strings, bytes as code points), which avsc reads back into the identical value.
 */
export interface SchemaLine {
  type: 'schema';
  id: number;
  schema: string;
}

export interface RecordLine {
  type: 'record';
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
  /** Decoded Avro (with its schema id), or the raw bytes when a payload is not Confluent-framed. */
  key: ArchivedPayload | null;
  value: ArchivedPayload | null;
  headers: Record<string, string>;
}

export type ArchivedPayload = { schemaId: number; avro: unknown } | { base64: string };

export type ArchiveLine = SchemaLine | RecordLine;

/** Schema id of a Confluent-framed payload (magic byte 0 + 4-byte id), or undefined. */
export function schemaIdOf(payload: Buffer): number | undefined {
  return payload.length >= 5 && payload[0] === 0 ? payload.readUInt32BE(1) : undefined;
}

export function archivePayload(payload: Buffer, type: avro.Type | undefined): ArchivedPayload {
  const id = schemaIdOf(payload);
  if (id === undefined || !type) return { base64: payload.toString('base64') };
  return { schemaId: id, avro: JSON.parse(type.toString(type.fromBuffer(payload.subarray(5)))) };
}

export function archiveHeaders(headers: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers ?? {})) {
    if (value === undefined) continue;
    out[name] = Buffer.from(Array.isArray(value) ? value[0]! : value).toString('base64');
  }
  return out;
}

export function restoreHeaders(headers: Record<string, string>): IHeaders {
  return Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, Buffer.from(value, 'base64')]));
}

/** Parses one line; a malformed one is ARCHIVE_INVALID naming the file and line. */
export function parseLine(text: string, file: string, line: number): ArchiveLine {
  let parsed: { type?: unknown; id?: unknown; schema?: unknown; topic?: unknown; partition?: unknown; offset?: unknown };
  try {
    parsed = JSON.parse(text) as typeof parsed;
  } catch (error) {
    throw new CdcError('ARCHIVE_INVALID', `${file}:${line} is not JSON: ${text.slice(0, 120)}`, {
      cause: error,
      hint: 'Archives are written by `cdc file-sink`; a truncated last line of a crashed file is dropped at its next start.',
    });
  }
  const ok =
    parsed.type === 'schema'
      ? typeof parsed.id === 'number' && typeof parsed.schema === 'string'
      : parsed.type === 'record' && typeof parsed.topic === 'string' && typeof parsed.partition === 'number' && typeof parsed.offset === 'string';
  if (!ok) throw new CdcError('ARCHIVE_INVALID', `${file}:${line} is not an archive line (type ${JSON.stringify(parsed.type)})`, { hint: 'Archives are written by `cdc file-sink`.' });
  return parsed as unknown as ArchiveLine;
}
