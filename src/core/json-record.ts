import { exactJson, parseExactJson } from './exact-json.ts';

/**
 * VALUE_CONVERTER=json: a self-describing record in the shape of Kafka Connect's JsonConverter
 * with `schemas.enable=true`, `{"schema": …, "payload": …}`. The schema is the record's Avro
 * schema (the very one the avro converter registers), so both converters describe a table alike;
 * the payload holds the values exactly (64-bit integers as JSON integers, decimals as exact
 * strings, bytes as base64, temporal values as ISO text, JSON columns embedded as JSON).
 * A consumer needs no registry: the sink tells the two formats apart by their first byte.
 */
export function jsonRecord(schema: Record<string, unknown>, payload: unknown): Buffer {
  return Buffer.from(`{"schema":${JSON.stringify(schema)},"payload":${exactJson(payload)}}`, 'utf8');
}

export function isJsonRecord(buffer: Buffer): boolean {
  return buffer.length > 0 && buffer[0] === 0x7b; // '{'; a Confluent Avro record starts with 0x00
}

export function parseJsonRecord(buffer: Buffer): { schema: Record<string, unknown>; payload: Record<string, unknown> } {
  const parsed = parseExactJson(buffer.toString('utf8')) as { schema?: unknown; payload?: unknown };
  if (!parsed || typeof parsed.schema !== 'object' || typeof parsed.payload !== 'object') throw new Error('a JSON record needs "schema" and "payload" objects');
  return parsed as { schema: Record<string, unknown>; payload: Record<string, unknown> };
}
