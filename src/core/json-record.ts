import { parseExactJson } from './exact-json.ts';

/**
 * VALUE_CONVERTER=json: records in Kafka Connect's JsonConverter format (`schemas.enable=true`),
 * `{"schema": <Connect schema>, "payload": <value>}` (see core/connect-types.ts for the schema
 * and source/connect-schema.ts for the writer). A consumer needs no registry: the sink tells
 * JSON and Confluent Avro apart by their first byte.
 *
 * Topics written before the Connect format hold the record's Avro schema in `schema`
 * (`"type":"record"`); the sink still reads them (core/json-change.ts).
 */
export function jsonRecord(schemaText: string, payloadText: string): Buffer {
  return Buffer.from(`{"schema":${schemaText},"payload":${payloadText}}`, 'utf8');
}

export function isJsonRecord(buffer: Buffer): boolean {
  return buffer.length > 0 && buffer[0] === 0x7b; // '{'; a Confluent Avro record starts with 0x00
}

const SCHEMA_START = '{"schema":';
const PAYLOAD_START = ',"payload":';

/**
 * The schema's JSON text and the payload's, split without parsing: the schema repeats in every
 * record, so a reader parses it once per distinct text. Records from other writers (another key
 * order, whitespace) are parsed whole.
 */
export function splitJsonRecord(buffer: Buffer): { schemaText: string; payload: unknown } {
  const text = buffer.toString('utf8');
  if (text.startsWith(SCHEMA_START)) {
    const at = text.indexOf(PAYLOAD_START);
    if (at > 0 && text.endsWith('}')) return { schemaText: text.slice(SCHEMA_START.length, at), payload: parseExactJson(text.slice(at + PAYLOAD_START.length, -1)) };
  }
  const { schema, payload } = parseJsonRecord(buffer);
  return { schemaText: JSON.stringify(schema), payload };
}

export function parseJsonRecord(buffer: Buffer): { schema: Record<string, unknown>; payload: unknown } {
  const parsed = parseExactJson(buffer.toString('utf8')) as { schema?: unknown; payload?: unknown };
  if (!parsed || typeof parsed.schema !== 'object' || parsed.schema === null || !('payload' in parsed)) throw new Error('a JSON record needs "schema" and "payload"');
  return parsed as { schema: Record<string, unknown>; payload: unknown };
}
